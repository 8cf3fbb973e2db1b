from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop
from gpt2_conformance.properties.gradients import TRAINING_BOUNDS


@prop("tied_gradient", needs=("grad",), training=True)
def tied_gradient(ctx, data):
    """wte's gradient is the sum of its embedding path and its head path."""
    case = data.draw(ctx.cases(min_length=2, **TRAINING_BOUNDS), label="case")
    ctx.note(case=case)
    params = case.params()
    _, grads = ctx.load(params).loss_and_grads(case.tokens)
    head, embedding = ctx.wte_grad_paths(params, case.tokens)
    tol = ctx.grad_reference(params, case.tokens).tolerances["model/wte"]
    got = grads["model/wte"]
    # Name what the backend's wte gradient is closest to: a head of its own leaves only the embedding path.
    candidates = {"embedding + head": embedding + head, "the embedding path alone": embedding,
                  "the head path alone": head, "embedding + twice the head": embedding + 2 * head,
                  "twice the embedding + head": 2 * embedding + head}
    closest = min(candidates, key=lambda k: max_abs_err(got, candidates[k]))
    return Measurement(max_abs_err(got, candidates["embedding + head"]), tol,
                       f"wte's gradient vs its embedding path + its head path (closest to {closest})")
