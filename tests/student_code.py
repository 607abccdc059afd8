"""A training step written as a student would write it, in plain NumPy and independently of
chainrule, with one catalogue mistake switched on at a time (``MISTAKE``): the code
tests/test_answers.py judges, as numbers (``verify --answers``) and as a file run in the
sandbox (``--impl``). Two layers, any of sigmoid, tanh and softmax, the losses sse, half_sse
and cross-entropy from the logits, one example or a batch."""

from __future__ import annotations

import textwrap

import numpy as np

from chainrule.verify.mistakes import correct_step


STUDENT = textwrap.dedent('''
    import numpy as np

    MISTAKE = {mistake!r}
    HIDDEN, OUTPUT, LOSS = {hidden!r}, {output!r}, {loss!r}


    def f(name, z):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-z))
        if name == "tanh":
            return np.tanh(z)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


    def back(name, z, a, g, layer):
        """g times the derivative of the activation at z (the Jacobian, for softmax)."""
        if MISTAKE == "missing_activation_derivative" or MISTAKE == f"missing_{{layer}}_derivative":
            return g
        if MISTAKE == "derivative_of_z":
            a = z
        if MISTAKE == "derivative_of_activation_value":
            a = f(name, a)
        if name == "sigmoid":
            return g * a * (1 - a)
        if name == "tanh":
            return g * (1 - a ** 2)
        if MISTAKE == "softmax_diagonal_jacobian":
            return g * a * (1 - a)
        return a * (g - np.sum(g * a, axis=-1, keepdims=True))


    def loss(y, t):
        if LOSS == "cross_entropy":  # t one-hot
            log = np.log10 if MISTAKE == "log_base_ten" else np.log
            return float(np.mean(-np.sum(t * log(y), axis=-1)))
        squares = np.sum((y - t) ** 2, axis=-1)
        return float(np.mean(squares if LOSS == "sse" else squares / 2))


    def step(params, x, t, learning_rate):
        W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
        batch = x.ndim == 2
        n = len(x) if batch else 1
        z1 = x @ W1 + b1
        h = f(HIDDEN, z1)
        z2 = h @ W2 + b2
        y = f(OUTPUT, z2)

        error = t - y if MISTAKE == "loss_derivative_sign" else y - t
        two = 2.0 if LOSS == "sse" else 1.0
        two = {{"dropped_factor_two": two / 2, "doubled_factor_two": two * 2}}.get(MISTAKE, two)
        per = 1 if MISTAKE == "sum_over_batch" else n
        if LOSS == "cross_entropy":  # from the logits: y - t, no slope to multiply in
            d2 = error / per
            if MISTAKE == "extra_output_derivative":
                d2 = d2 * y * (1 - y)
        else:
            d2 = back(OUTPUT, z2, y, two * error / per, "output")
        gW2 = h.T @ d2 if batch else np.outer(h, d2)
        gb2 = d2.sum(axis=0) if batch else d2

        rate = {{"learning_rate_twice": learning_rate ** 2,
                "learning_rate_missing": 1.0}}.get(MISTAKE, learning_rate)
        sign = +1 if MISTAKE == "gradient_ascent" else -1
        W2_back = W2 - learning_rate * gW2 if MISTAKE == "updated_weights_in_backward" else W2
        d1 = back(HIDDEN, z1, h, d2 @ (W2_back if MISTAKE == "transposed_weights" else W2_back.T),
                  "hidden")
        gW1 = x.T @ d1 if batch else np.outer(x, d1)
        if MISTAKE == "swapped_weight_indices":  # dE/dw_ij written as d_i * a_j
            gW1 = gW1.T if gW1.shape[0] == gW1.shape[1] else gW1
            gW2 = gW2.T if gW2.shape[0] == gW2.shape[1] else gW2
        if not batch:
            if MISTAKE == "bias_summed_over_units":  # one number, broadcast to every unit
                gb1, gb2 = np.sum(d1, axis=0) + 0 * d1, np.sum(d2, axis=0) + 0 * d2
            else:
                gb1 = d1
        else:
            gb1 = d1[0] if MISTAKE == "bias_not_summed" else d1.sum(axis=0)
            gb2 = d2[0] if MISTAKE == "bias_not_summed" else gb2
        grads = {{"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}}
        if MISTAKE == "mean_over_batch":
            grads = {{k: g / n for k, g in grads.items()}}

        new = {{k: params[k] + sign * rate * g for k, g in grads.items()}}
        if MISTAKE == "biases_not_updated":
            new["b1"], new["b2"] = b1, b2
        y_after = f(OUTPUT, f(HIDDEN, x @ new["W1"] + new["b1"]) @ new["W2"] + new["b2"])
        after = loss(y, t) if MISTAKE == "stale_loss_after" else loss(y_after, t)
        return {{"gradients": grads, "updated": new, "loss": loss(y, t), "loss_after": after}}
''')

def student_source(spec, mistake: str | None) -> str:
    hidden, output = spec.activations
    return STUDENT.format(mistake=mistake, hidden=hidden, output=output, loss=spec.loss)


def run_student(spec, mistake: str | None) -> dict:
    namespace: dict = {}
    exec(student_source(spec, mistake), namespace)
    params = {k[len("parameters."):]: v.copy() for k, v in correct_step(spec).items()
              if k.startswith("parameters.")}
    targets = np.asarray(spec.targets)
    if targets.dtype.kind in "iu":  # a class index: one-hot, as the student writes it
        targets = np.eye(spec.layers[-1])[targets]
    return namespace["step"](params, np.asarray(spec.inputs, float), targets,
                             spec.learning_rate)


def student_answers(result: dict) -> dict:
    answers = {"forward.loss": result["loss"], "loss_after": result["loss_after"]}
    for section in ("gradients", "updated"):
        answers.update({f"{section}.{k}": np.asarray(v).tolist()
                        for k, v in result[section].items()})
    return answers
