#!/bin/bash
# The commands behind RESULTS.md, as they were run (2 cores, shared; see RESULTS.md).
# Each line is resumable: run it again with the same arguments (it passes --resume).
# They were started side by side with nohup; the logs were kept outside the repository.
export NUMPYVAE_DATA=${NUMPYVAE_DATA:-/work/shared/data} OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
OUT=${OUT:-runs/reproduce}
numpyvae reproduce kingma-fig2 --out $OUT/kingma-fig2 --nz 3 5 10 200 --budget 2e6 --resume
numpyvae reproduce kingma-fig2 --out $OUT/kingma-fig2 --nz 20 --budget 1e7 --resume
# then, once the first line had finished: N_z = 200 extended from 2e6 to 1e7
numpyvae reproduce kingma-fig2 --out $OUT/kingma-fig2 --nz 200 --budget 1e7 --resume
numpyvae reproduce kingma-frey --out $OUT/kingma-frey --budget 1e6 --resume
numpyvae reproduce pytorch-example --out $OUT/pytorch-example --resume
numpyvae reproduce marginal-likelihood --out $OUT/marginal-likelihood --budget 3e6 --resume
numpyvae reproduce iwae --out $OUT/iwae --models vae --budget 40 --eval-n 1000 --resume
numpyvae reproduce iwae --out $OUT/iwae --models iwae5 --budget 40 --eval-n 1000 --resume
# then, after the 40-epoch VAE run finished: stage 5 (epochs 41-121)
numpyvae reproduce iwae --out $OUT/iwae --models vae --budget 121 --eval-n 1000 --resume
# the full test set (k = 5000, 10,000 images) for the 40-epoch models, in resumable chunks of 1,000
python -c "from numpyvae.reproduce.iwae import evaluate_checkpoint as e; print(e('$OUT/iwae', 'vae', 4))"
python -c "from numpyvae.reproduce.iwae import evaluate_checkpoint as e; print(e('$OUT/iwae', 'iwae5', 4))"
python -c "from numpyvae.reproduce.iwae import evaluate_checkpoint as e; print(e('$OUT/iwae', 'vae', 5))"
# --- session 2 (load ~2: two of these runs side by side, nothing else) ---
# K&W Fig. 2: N_z = 3, 5, 10 extended from 2e6 to 1e7 examples
numpyvae reproduce kingma-fig2 --out $OUT/kingma-fig2 --nz 3 5 10 --budget 1e7 --resume
# IWAE: the VAE through stage 7 (1,093 epochs), final test NLL on all 10,000 test images
numpyvae reproduce iwae --out $OUT/iwae --models vae --budget 1093 --eval-n 10000 --resume
# the VAE's stage-6 checkpoint (364 epochs) on the full test set
python -c "from numpyvae.reproduce.iwae import evaluate_checkpoint as e; print(e('$OUT/iwae', 'vae', 6))"
# IWAE k = 5 through stage 6 (364 epochs), full test set
numpyvae reproduce iwae --out $OUT/iwae --models iwae5 --budget 364 --eval-n 10000 --resume
# then: the VAE into stage 8 (2,400 epochs) and IWAE k = 5 through stage 7 (1,093 epochs), side by side
numpyvae reproduce iwae --out $OUT/iwae --models vae --budget 2400 --eval-n 10000 --resume
numpyvae reproduce iwae --out $OUT/iwae --models iwae5 --budget 1093 --eval-n 10000 --resume
# not run yet (next): the rest of the schedule, and Frey Face towards 1e7 examples per N_z
# numpyvae reproduce iwae --out $OUT/iwae --models vae --budget 3280 --eval-n 10000 --resume
# numpyvae reproduce kingma-frey --out $OUT/kingma-frey --budget 1e7 --resume
