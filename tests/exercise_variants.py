"""Correct backward passes written differently from the references: other arithmetic orders,
the sigmoid through exp or tanh, einsum for matmul, sums in another order.  Every one must pass
the grader, including its rule that a gradient agree with the exact one to 1e-12 (which is how
it tells a numerically differentiated gradient from one written out by hand).

VARIANTS[exercise number] = [(label, source of a student file), ...], three or more each.
"""

_H = "import numpy as np\n\n"

VARIANTS = {
    1: [
        ("einsum", _H + """
def dense_backward(dy, cache):
    x, W = cache
    return (np.einsum("nj,ij->ni", dy, W), np.einsum("ni,nj->ij", x, dy),
            np.einsum("nj->j", dy))
"""),
        ("transposed products", _H + """
def dense_backward(dy, cache):
    x, W = cache
    return (W @ dy.T).T, (dy.T @ x).T, np.ones(dy.shape[0]) @ dy
"""),
        ("loop over the batch", _H + """
def dense_backward(dy, cache):
    x, W = cache
    dW = np.zeros_like(W)
    for n in range(x.shape[0]):
        dW += np.outer(x[n], dy[n])
    return dy @ W.T, dW, dy.sum(axis=0)
"""),
    ],
    2: [
        ("where, (1-y)(1+y), y - y^2", _H + """
def relu_backward(dy, cache):
    return np.where(cache > 0, dy, 0.0)

def tanh_backward(dy, cache):
    return dy * (1.0 - cache) * (1.0 + cache)

def sigmoid_backward(dy, cache):
    return dy * (cache - cache * cache)
"""),
        ("mask, 1 - y**2, y (1 - y)", _H + """
def relu_backward(dy, cache):
    return dy * (cache > 0).astype(np.float64)

def tanh_backward(dy, cache):
    return dy - dy * cache ** 2

def sigmoid_backward(dy, cache):
    return (dy * cache) * (1.0 - cache)
"""),
        ("copy and zero, square, product", _H + """
def relu_backward(dy, cache):
    dx = dy.copy()
    dx[cache <= 0] = 0.0
    return dx

def tanh_backward(dy, cache):
    return (1.0 - np.square(cache)) * dy

def sigmoid_backward(dy, cache):
    return np.multiply(np.multiply(cache, 1.0 - cache), dy)
"""),
    ],
    3: [
        ("1 / (1 + exp(-x)) split by sign", _H + """
def softplus_backward(dy, cache):
    x = cache
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return dy * s
"""),
        ("exp(-softplus(-x))", _H + """
def softplus_backward(dy, cache):
    x = cache
    sp = np.logaddexp(0.0, -x)          # softplus(-x) = -log sigmoid(x)
    return dy * np.exp(-sp)
"""),
        ("tanh", _H + """
def softplus_backward(dy, cache):
    return dy / 2 + dy * np.tanh(cache / 2) / 2
"""),
    ],
    4: [
        ("x - sigmoid via tanh", _H + """
def bernoulli_log_likelihood_backward(dll, cache):
    x, logits = cache
    return dll[..., None] * (x - 0.5 * (1.0 + np.tanh(0.5 * logits)))
"""),
        ("sigmoid split by sign", _H + """
def bernoulli_log_likelihood_backward(dll, cache):
    x, logits = cache
    e = np.exp(-np.abs(logits))
    s = np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return x * dll[..., None] - s * dll[..., None]
"""),
        ("logaddexp", _H + """
def bernoulli_log_likelihood_backward(dll, cache):
    x, logits = cache
    s = np.exp(logits - np.logaddexp(0.0, logits))
    return np.expand_dims(dll, -1) * (x - s)
"""),
    ],
    5: [
        ("divide by the variance", _H + """
def gaussian_log_likelihood_backward(dll, cache):
    x, mean, logvar, inv_var = cache
    d = dll[..., None]
    var = 1.0 / inv_var
    r = x - mean
    dmean = d * r / var
    if isinstance(logvar, float):
        return dmean, None
    return dmean, d * (0.5 * r * r / var - 0.5)
"""),
        ("exp(-logvar)", _H + """
def gaussian_log_likelihood_backward(dll, cache):
    x, mean, logvar, inv_var = cache
    d = dll[..., None]
    if isinstance(logvar, float):
        return d * (x - mean) * np.exp(-logvar), None
    w = np.exp(-logvar)
    return d * (x - mean) * w, 0.5 * d * ((x - mean) ** 2 * w - 1.0)
"""),
        ("standardised residual", _H + """
def gaussian_log_likelihood_backward(dll, cache):
    x, mean, logvar, inv_var = cache
    d = np.expand_dims(dll, -1)
    u = (x - mean) * np.sqrt(inv_var)
    dmean = d * u * np.sqrt(inv_var)
    if isinstance(logvar, float):
        return dmean, None
    return dmean, d * (u * u - 1.0) / 2
"""),
    ],
    6: [
        ("expm1 of log var", _H + """
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    d = dkl[:, None]
    return d * mu, 0.5 * d * np.expm1(np.log(var))
"""),
        ("halves first", _H + """
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    d = dkl[:, None]
    return mu * d, (0.5 * var - 0.5) * d
"""),
        ("einsum", _H + """
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    return np.einsum("n,nk->nk", dkl, mu), np.einsum("n,nk->nk", dkl / 2, var - 1.0)
"""),
    ],
    7: [
        ("sum of products", _H + """
def gaussian_backward(dz, cache):
    std, eps = cache
    g = dz * eps
    if dz.ndim == 3:
        return dz.sum(axis=0), 0.5 * std * g.sum(axis=0)
    return dz.copy(), 0.5 * std * g
"""),
        ("reshape to (S, N, k)", _H + """
def gaussian_backward(dz, cache):
    std, eps = cache
    dz3 = dz.reshape((-1,) + std.shape)
    eps3 = eps.reshape((-1,) + std.shape)
    return dz3.sum(axis=0), (dz3 * eps3 * std / 2).sum(axis=0)
"""),
        ("einsum", _H + """
def gaussian_backward(dz, cache):
    std, eps = cache
    if dz.ndim == 2:
        return dz + 0.0, dz * eps * std * 0.5
    return np.einsum("snk->nk", dz), np.einsum("snk,snk,nk->nk", dz, eps, std) * 0.5
"""),
    ],
    8: [
        ("einsum and tril", _H + """
def full_cov_backward(dz, cache):
    L, eps = cache
    if dz.ndim == 2:
        return dz.copy(), np.tril(np.einsum("ni,nj->nij", dz, eps))
    return dz.sum(axis=0), np.tril(np.einsum("sni,snj->nij", dz, eps))
"""),
        ("mask multiply", _H + """
def full_cov_backward(dz, cache):
    L, eps = cache
    k = L.shape[-1]
    mask = np.tri(k)
    outer = dz[..., :, None] * eps[..., None, :]
    if outer.ndim == 4:
        outer = outer.sum(axis=0)
        dz = dz.sum(axis=0)
    return dz + 0.0, outer * mask
"""),
        ("loop over rows", _H + """
def full_cov_backward(dz, cache):
    L, eps = cache
    dz3, eps3 = dz.reshape((-1,) + dz.shape[-2:]), eps.reshape((-1,) + eps.shape[-2:])
    dL = np.zeros_like(L)
    for i in range(L.shape[-1]):
        dL[:, i, :i + 1] = (dz3[:, :, i:i + 1] * eps3[:, :, :i + 1]).sum(axis=0)
    return dz3.sum(axis=0), dL
"""),
    ],
    9: [
        ("one fraction", _H + """
def sparse_penalty_grad(h, rho, beta):
    n = h.shape[0]
    r = h.mean(axis=0)
    g = beta * (r - rho) / (r * (1.0 - r))
    return np.tile(g / n, (n, 1))
"""),
        ("sum over rows, then N", _H + """
def sparse_penalty_grad(h, rho, beta):
    n = h.shape[0]
    r = h.sum(axis=0) / n
    g = beta / n * ((1 - rho) / (1 - r) - rho / r)
    return np.ones_like(h) * g
"""),
        ("log derivative", _H + """
def sparse_penalty_grad(h, rho, beta):
    n = h.shape[0]
    r = np.mean(h, axis=0, keepdims=True)
    return np.repeat(beta * (-(rho / r) + (1 - rho) / (1 - r)), n, axis=0) / n
"""),
    ],
    10: [
        ("sigmoid via exp", _H + """
def contractive_penalty_grad(x, W, b, lam):
    n = x.shape[0]
    a = x @ W + b
    h = np.where(a >= 0, 1 / (1 + np.exp(-np.abs(a))), np.exp(-np.abs(a)) / (1 + np.exp(-np.abs(a))))
    s = h - h * h
    w2 = np.sum(W ** 2, axis=0)
    da = 2 * lam / n * w2 * s ** 2 * (1 - 2 * h)
    dW = x.T @ da + 2 * lam / n * W * np.sum(s ** 2, axis=0)
    return dW, np.sum(da, axis=0)
"""),
        ("einsum", _H + """
def contractive_penalty_grad(x, W, b, lam):
    n = x.shape[0]
    h = 0.5 * (1 + np.tanh(0.5 * (x @ W + b)))
    s2 = (h * (1 - h)) ** 2
    w2 = np.einsum("ij,ij->j", W, W)
    da = (2 * lam / n) * (w2 * s2 * (1 - 2 * h))
    dW = np.einsum("ni,nj->ij", x, da) + (2 * lam / n) * np.einsum("ij,nj->ij", W, s2)
    return dW, np.einsum("nj->j", da)
"""),
        ("per-example loop", _H + """
def contractive_penalty_grad(x, W, b, lam):
    n = x.shape[0]
    dW, db = np.zeros_like(W), np.zeros_like(b)
    w2 = (W * W).sum(axis=0)
    for xn in x:
        h = 0.5 * (1 + np.tanh(0.5 * (xn @ W + b)))
        s = h * (1 - h)
        da = 2 * w2 * s * s * (1 - 2 * h)
        dW += np.outer(xn, da) + 2 * W * s * s
        db += da
    return lam / n * dW, lam / n * db
"""),
    ],
    11: [
        ("expanded", _H + """
def pathwise_terms(theta, eps):
    return 2.0 * theta + 2.0 * eps

def score_function_terms(theta, eps):
    return (theta + eps) ** 2 * eps
"""),
        ("z first", _H + """
def pathwise_terms(theta, eps):
    z = eps + theta
    return z + z

def score_function_terms(theta, eps):
    z = eps + theta
    return eps * z * z
"""),
        ("polynomial", _H + """
def pathwise_terms(theta, eps):
    return np.full_like(eps, 2 * theta) + 2 * eps

def score_function_terms(theta, eps):
    return theta * theta * eps + 2 * theta * eps * eps + eps ** 3
"""),
    ],
}

# exercise 12: one forward pass, three backward passes written differently
_VAE_FORWARD = _H + '''
def softplus(a):
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def vae_forward(x, eps, p):
    h = np.tanh(x @ p["W1"] + p["b1"])
    mu = h @ p["W_mu"] + p["b_mu"]
    logvar = h @ p["W_logvar"] + p["b_logvar"]
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    g = np.tanh(z @ p["W2"] + p["b2"])
    logits = g @ p["W3"] + p["b3"]
    return dict(x=x, eps=eps, h=h, mu=mu, logvar=logvar, std=std, z=z, g=g, logits=logits)
'''

VARIANTS[12] = [
    ("1/N at the end, sigmoid via exp", _VAE_FORWARD + '''
def vae_backward(x, eps, params):
    p, c, n = params, vae_forward(x, eps, params), x.shape[0]
    a = c["logits"]
    e = np.exp(-np.abs(a))
    s = np.where(a >= 0, 1 / (1 + e), e / (1 + e))
    dl = s - x
    out = {"W3": c["g"].T @ dl, "b3": dl.sum(0)}
    da2 = (dl @ p["W3"].T) * (1 - c["g"]) * (1 + c["g"])
    out["W2"], out["b2"] = c["z"].T @ da2, da2.sum(0)
    dz = da2 @ p["W2"].T
    dmu = dz + c["mu"]
    dlv = 0.5 * (dz * c["eps"] * c["std"] + np.exp(c["logvar"]) - 1)
    out["W_mu"], out["b_mu"] = c["h"].T @ dmu, dmu.sum(0)
    out["W_logvar"], out["b_logvar"] = c["h"].T @ dlv, dlv.sum(0)
    da1 = (dmu @ p["W_mu"].T + dlv @ p["W_logvar"].T) * (1 - c["h"] ** 2)
    out["W1"], out["b1"] = x.T @ da1, da1.sum(0)
    return {k: out[k] / n for k in params}
'''),
    ("einsum", _VAE_FORWARD + '''
def vae_backward(x, eps, params):
    p, c, n = params, vae_forward(x, eps, params), x.shape[0]
    dl = (0.5 * (1 + np.tanh(0.5 * c["logits"])) - x) / n
    out = {"W3": np.einsum("nh,nd->hd", c["g"], dl), "b3": np.einsum("nd->d", dl)}
    da2 = np.einsum("nd,hd->nh", dl, p["W3"]) * (1 - np.square(c["g"]))
    out["W2"], out["b2"] = np.einsum("nk,nh->kh", c["z"], da2), np.einsum("nh->h", da2)
    dz = np.einsum("nh,kh->nk", da2, p["W2"])
    dmu = dz + c["mu"] / n
    dlv = dz * c["eps"] * np.exp(0.5 * c["logvar"]) / 2 + (np.exp(c["logvar"]) - 1) / (2 * n)
    out["W_mu"], out["b_mu"] = np.einsum("nh,nk->hk", c["h"], dmu), np.einsum("nk->k", dmu)
    out["W_logvar"] = np.einsum("nh,nk->hk", c["h"], dlv)
    out["b_logvar"] = np.einsum("nk->k", dlv)
    dh = np.einsum("nk,hk->nh", dmu, p["W_mu"]) + np.einsum("nk,hk->nh", dlv, p["W_logvar"])
    da1 = dh * (1 - c["h"] * c["h"])
    out["W1"], out["b1"] = np.einsum("nd,nh->dh", x, da1), np.einsum("nh->h", da1)
    return {k: out[k] for k in params}
'''),
    ("KL and reconstruction separately", _VAE_FORWARD + '''
def vae_backward(x, eps, params):
    p, c, n = params, vae_forward(x, eps, params), x.shape[0]
    sig = 1 / (1 + np.exp(-c["logits"]))
    dl = sig / n - x / n
    g = {"W3": c["g"].T @ dl, "b3": np.sum(dl, axis=0)}
    da2 = dl @ p["W3"].T - (dl @ p["W3"].T) * c["g"] ** 2
    g["W2"], g["b2"] = c["z"].T @ da2, np.sum(da2, axis=0)
    dz = da2 @ p["W2"].T
    # the reconstruction term through the sample, then the KL term on its own
    dmu_rec, dlv_rec = dz, dz * c["eps"] * c["std"] * 0.5
    dmu_kl, dlv_kl = c["mu"] / n, (np.exp(c["logvar"]) / 2 - 0.5) / n
    dmu, dlv = dmu_rec + dmu_kl, dlv_rec + dlv_kl
    g["W_mu"], g["b_mu"] = c["h"].T @ dmu, np.sum(dmu, axis=0)
    g["W_logvar"], g["b_logvar"] = c["h"].T @ dlv, np.sum(dlv, axis=0)
    dh = dmu @ p["W_mu"].T + dlv @ p["W_logvar"].T
    da1 = dh - dh * c["h"] ** 2
    g["W1"], g["b1"] = x.T @ da1, np.sum(da1, axis=0)
    return {k: g[k] for k in params}
'''),
]


# brute-force central differences of the forward pass, h = 1e-5 (what a student who did not
# differentiate submits); exercise 01's is tests/hostile.py's "numerical_gradient"
NUMERICAL = {
    3: _H + """
def softplus_backward(dy, cache):
    h = 1e-5
    return dy * (np.logaddexp(0, cache + h) - np.logaddexp(0, cache - h)) / (2 * h)
""",
    6: _H + """
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    logvar = np.log(var)
    h = 1e-5
    kl = lambda m, lv: 0.5 * (np.exp(lv) + m * m - 1 - lv)
    dmu = (kl(mu + h, logvar) - kl(mu - h, logvar)) / (2 * h)
    dlv = (kl(mu, logvar + h) - kl(mu, logvar - h)) / (2 * h)
    return dkl[:, None] * dmu, dkl[:, None] * dlv
""",
    7: _H + """
def gaussian_backward(dz, cache):
    std, eps = cache
    logvar = 2 * np.log(std)
    h = 1e-5
    z = lambda lv: np.exp(0.5 * lv) * eps
    dlv = dz * (z(logvar + h) - z(logvar - h)) / (2 * h)
    dmu = dz
    if dz.ndim == 3:
        return dmu.sum(0), dlv.sum(0)
    return dmu.copy(), dlv
""",
}
