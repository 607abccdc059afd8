"""``chainrule train`` on a text (``--data macbeth``): the windows a character-level spec
reads, checked against its vocabulary, and the text generated after training
(``--sample``, ``--temperature``, ``--prompt``; :mod:`chainrule.train.sample`)."""

from __future__ import annotations

import argparse

from chainrule.errors import ChainruleError


def text_dataset(args: argparse.Namespace, spec):
    """A text's windows for a sequence model: their length is the spec's input_shape [L], and
    the spec's vocabulary (the Embedding's rows, the output's units) must be the text's."""
    from chainrule.train.data import load_dataset

    if spec is None or not hasattr(spec, "input_shape") or len(spec.input_shape) != 1 or \
            spec.layers[0].type != "Embedding":
        raise ChainruleError(f"--data {args.data}: a text trains a character-level model: "
                             f"give a spec that starts with an Embedding of input_shape [L] "
                             f"(examples/char-rnn.yaml)")
    dataset = load_dataset(args.data, length=spec.input_shape[0])
    size = len(dataset.classes)
    rows = spec.layers[0].options["num_embeddings"]
    if rows != size or spec.output_size != size:
        what = (f"layers[0].num_embeddings is {rows}" if rows != size else
                f"the last layer gives {spec.output_size} outputs")
        raise ChainruleError(f"{args.spec}: {what}, but {dataset.name} has {size} distinct "
                             f"characters (the vocabulary: one row and one output each)")
    if spec.positions != spec.input_shape:
        raise ChainruleError(f"{args.spec}: a language model predicts the next character at "
                             f"every position: its last layer must give (L, {size}), got "
                             f"{tuple(spec.layers[-1].shape)}")
    return dataset


def sample_text(model, dataset, args) -> str:
    """Generated text after training, from the prompt (the text's first line by default)."""
    from chainrule.train.sample import sample

    count, prompt = sample_count(args), sample_prompt(args, dataset)
    if not count:
        return ""
    text = sample(model, dataset.classes, prompt, count, temperature=args.temperature,
                  seed=args.seed)
    return (f"\nsample ({count} characters, temperature {args.temperature:g}, seed "
            f"{args.seed}):\n{prompt}{text}\n")


def sample_count(args) -> int:
    return 300 if args.sample is None else args.sample


def sample_prompt(args, dataset) -> str:
    """--prompt, or the text's first line (its first window's characters up to a newline)."""
    if args.prompt is not None:
        return args.prompt
    first = "".join(dataset.classes[int(t)] for t in dataset.x[0])
    return first.split("\n")[0] + "\n"


def check_sampling(args: argparse.Namespace, spec, dataset) -> None:
    """A sample that cannot be drawn fails before training: a model that is not causal, or a
    bad --sample, --temperature or --prompt."""
    if args.sample == 0:
        return
    from chainrule.train.sample import check_causal, check_options

    check_causal(spec)
    check_options(dataset.classes, sample_prompt(args, dataset), sample_count(args),
                  args.temperature)
