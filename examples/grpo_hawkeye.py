"""Train a policy with Hawkeye's reward in TRL's GRPOTrainer: a documented recipe.

Not run in CI: TRL needs torch, transformers and accelerate (``pip install trl``, plus a GPU for
anything but a toy model). The settings are those of the released training code where it states
them (GRPOConfig: 5 epochs, batch 8, learning rate 1e-5, beta 0.04, completion length 1024,
temperature 0.9, bf16, gradient checkpointing, a log every 5 steps, a checkpoint every 100; its
``max_prompt_length=1024`` is left out, as TRL 1.x's GRPOConfig has no such field) on GSM8K's
train split, with the upstream variant of the reward (whitespace words
against the gold rationale, λ = 0.01, α = 0.3). The responder (model B) is any OpenAI-compatible
server, e.g. ``vllm serve Qwen/Qwen2.5-0.5B-Instruct --port 8000`` on another GPU.

The poster's ablation, with and without the small model, is two runs::

    python examples/grpo_hawkeye.py --out grpo/with-b --responder-url http://gpu2:8000/v1 \\
        --responder-model Qwen/Qwen2.5-0.5B-Instruct
    python examples/grpo_hawkeye.py --out grpo/without-b --no-responder
    hawkeye-bench report grpo/with-b grpo/without-b --out reports/training

The report reads each run's ``trainer_state.json`` (written at the end, and in every
checkpoint) and draws CoT length and reward over steps, one line per run.
"""

from __future__ import annotations

import argparse
from typing import Any

from hawkeye_bench.rewards import HawkeyeReward

#: The reasoner's prompt: the question alone, as a conversation (the chat template adds the
#: model's own think handling).
SYSTEM = "Reason step by step, concisely. The final answer will be written by another model."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    parser.add_argument("--out", required=True, help="TRL output_dir (trainer_state.json)")
    parser.add_argument("--responder-url", help="model B's OpenAI-compatible base URL")
    parser.add_argument("--responder-model", help="model B's name on that server")
    parser.add_argument(
        "--no-responder",
        action="store_true",
        help="the ablation: EM of the policy's own completion minus the same penalty",
    )
    parser.add_argument("--variant", choices=("upstream", "paper"), default="upstream")
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--penalty", type=float, default=0.01, help="λ, per squared word")
    parser.add_argument("--limit", type=int, help="train on the first N problems only")
    args = parser.parse_args(argv)
    if not args.no_responder and not (args.responder_url and args.responder_model):
        parser.error("give --responder-url and --responder-model, or --no-responder")
    return args


def build_reward(args: argparse.Namespace) -> HawkeyeReward:
    """The reward TRL calls: its ``__name__`` names the logged ``rewards/<name>/mean``."""
    options: dict[str, Any] = {"alpha": args.alpha, "penalty": args.penalty}
    if args.no_responder:
        return HawkeyeReward.without_responder(args.variant, **options)
    responder = {"base_url": args.responder_url, "model": args.responder_model}
    return HawkeyeReward(responder, variant=args.variant, **options)


def to_example(row: dict[str, Any]) -> dict[str, Any]:
    """A GSM8K row as a conversational GRPO example; ``question`` and ``answer`` (the gold
    rationale, ``... #### 18``) reach the reward as dataset columns."""
    prompt = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": row["question"]},
    ]
    return {"prompt": prompt, "question": row["question"], "answer": row["answer"]}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from datasets import load_dataset  # TRL's own dependencies: imported only to train
    from trl import GRPOConfig, GRPOTrainer

    dataset = load_dataset("openai/gsm8k", "main", split="train")
    if args.limit:
        dataset = dataset.select(range(args.limit))
    dataset = dataset.map(to_example, remove_columns=dataset.column_names)
    config = GRPOConfig(
        output_dir=args.out,
        num_train_epochs=5.0,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=1,
        learning_rate=1e-5,
        beta=0.04,
        max_completion_length=1024,
        temperature=0.9,
        bf16=True,
        gradient_checkpointing=True,
        logging_steps=5,
        save_steps=100,
    )
    reward = build_reward(args)
    trainer = GRPOTrainer(
        model=args.model, reward_funcs=[reward], args=config, train_dataset=dataset
    )
    try:
        trainer.train()
        trainer.save_state()  # output_dir/trainer_state.json: what the report reads
    finally:
        reward.close()


if __name__ == "__main__":
    main()
