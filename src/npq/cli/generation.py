"""Commands for generation over npq tokens: tokenize-dataset, train-generator, generate, eval-generator."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_quiet, positive_int, say


def cmd_tokenize_dataset(args: argparse.Namespace) -> int:
    import torch

    from ..generate.tokens import META, LabelledImages, write_token_dataset
    from ..train.trainer import setup_distributed
    from ..utils.progress import progress_bar
    from ..zoo import load_tokenizer

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / META).is_file() and not any(out.glob("tokens_*.npy")):
        raise ValueError(f"--out {out} holds other files: choose an empty or new folder (an interrupted token dataset resumes in place)")
    rank, world, device = setup_distributed()
    tokenizer, cfg = load_tokenizer(args.checkpoint)
    tokenizer = tokenizer.to(device)
    res = args.resolution or (cfg.get("data", {}).get("resolution") if isinstance(cfg.get("data"), dict) else None) or 256
    images = LabelledImages(args.data, res)
    meta = {"tokenizer": str(args.checkpoint) if args.checkpoint else "default", "codebook_size": int(tokenizer.quantizer.codebook_size),
            "quantizer": cfg["model"].get("quantizer")}
    if (out / META).is_file():
        old = json.loads((out / META).read_text())
        if old.get("source") != images.source or old.get("tokenizer") != meta["tokenizer"]:
            raise ValueError(f"--out {out} is a token dataset of {old.get('source')} by {old.get('tokenizer')}: choose another folder")
    bar = progress_bar(None, "tokenize", (not args.quiet) and rank == 0, total=len(images) // world)

    def encode(x):
        with torch.no_grad():
            return tokenizer.encode(x.to(device))

    info = write_token_dataset(images, encode, out, meta, args.shard_size, args.batch_size, args.workers, rank, world, bar.update)
    bar.close()
    if rank == 0:
        say(f"wrote {out}: {info['count']} token grids {info.get('grid')} of {info['num_classes']} classes in {info['shards']} shard(s)")
    return 0


def cmd_train_generator(args: argparse.Namespace) -> int:
    from ..train.generator import GeneratorTrainer, load_generator_config

    if args.dry_run:
        from ..apps.dry_run_generator import dry_run_generator

        report = dry_run_generator(args.config, args.overrides, progress=not args.quiet, log=say)
        print(report.format())
        return 0 if report.ok else 1
    cfg = load_generator_config(args.config, args.overrides)
    trainer = GeneratorTrainer(cfg, resume=args.resume, progress=not args.quiet, force=args.force)
    try:
        res = trainer.run(steps=args.stop_at)
    except KeyboardInterrupt:
        say(f"\nnpq train-generator: interrupted at step {trainer.step}; continue with --resume")
        return 130
    if args.export and trainer.rank == 0:
        from ..generate.io import save_generator

        save_generator(args.export, trainer.describe(), trainer._eval_model().state_dict(), trainer.step,
                       metrics={k: v for k, v in res.items() if k.startswith("eval_")})
        res["exported"] = args.export
    if trainer.rank == 0:
        print(json.dumps(res, indent=2))
    return 0


def _classes(names: list[str] | None, known: list[str], n: int) -> list[int]:
    """Class ids from names or numbers (all classes in turn when none is named), ``n`` each."""
    lower = [c.lower() for c in known]
    if not names:
        ids = list(range(len(known)))
    else:
        ids = []
        for raw in names:
            for c in raw.split(","):
                c = c.strip().lower()
                if c.isdigit() and int(c) < len(known):
                    ids.append(int(c))
                elif c in lower:
                    ids.append(lower.index(c))
                elif c.replace(" ", "-") in lower:
                    ids.append(lower.index(c.replace(" ", "-")))
                else:
                    raise ValueError(f"unknown class {c!r}: this generator knows {', '.join(known)} (or 0-{len(known) - 1})")
    return [i for i in ids for _ in range(n)]


def cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from ..generate.grid import image_grid, to_pil
    from ..utils.fileio import atomic_write
    from ..zoo import load_generator

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file for the grid, got {out}")
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists: pass --force to replace it, or choose another --out")
    if out.parent.exists() and not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: {out.parent} is a file, not a folder")
    gen, tok, info = load_generator(args.checkpoint)
    classes = _classes(args.classes, info["classes"], args.n)
    folder = out.with_suffix("")
    if folder.exists() and any(folder.iterdir()) and not args.force:
        raise ValueError(f"{folder}/ (the individual images) already holds files: pass --force to replace them, or choose another --out")
    g = torch.Generator().manual_seed(args.seed)
    if not args.quiet:
        say(f"sampling {len(classes)} images ({gen.cfg.length} tokens each, guidance {args.cfg}) with {info['source']}")
    images = []
    for i in range(0, len(classes), args.batch_size):
        tokens = gen.sample(classes[i : i + args.batch_size], args.cfg, args.temperature, args.top_k, args.top_p, g)
        images.append(tok.decode(tokens))
    images = torch.cat(images)
    per_row = args.n
    names = [info["classes"][c] for c in classes[::per_row]]
    grid = image_grid(images, names, per_row)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (c, im) in enumerate(zip(classes, images)):
        pic = to_pil(im)
        atomic_write(folder / f"{k:04d}_{info['classes'][c]}.png", lambda f, pic=pic: pic.save(f, format="PNG"))
    atomic_write(out, lambda f: grid.save(f, format="PNG"))
    if not args.quiet:
        say(f"wrote {out} (grid: one row per class) and {len(images)} images in {folder}/")
    return 0


def cmd_eval_generator(args: argparse.Namespace) -> int:
    from ..apps.generation import evaluate_generator
    from ..utils.fileio import atomic_write_text

    try:
        scales = [float(s) for s in args.cfg.split(",")]
    except ValueError:
        raise ValueError(f"--cfg must be comma-separated numbers, got {args.cfg!r}") from None
    if args.out and Path(args.out).exists() and not args.force:
        raise ValueError(f"{args.out} exists: pass --force to replace it")
    res = evaluate_generator(args.checkpoint, samples=args.samples, cfg_scales=scales, test_tokens=args.test_tokens, seed=args.seed,
                             batch_size=args.batch_size, progress=not args.quiet, speed=not args.no_speed, max_test=args.max_test)
    text = json.dumps(res, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
        say(f"wrote {args.out}")
    print(text)
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("tokenize-dataset", help="images (class-per-subfolder tree, folder, or fashion-mnist:train|test) -> "
                                                 "sharded token arrays with labels (resumable; torchrun: one share per rank)")
    s.add_argument("data", help="a folder with one subfolder per class (ImageNet layout), a flat folder, or fashion-mnist:train / fashion-mnist:test")
    s.add_argument("--checkpoint", "--model", dest="checkpoint", default=None,
                   help="tokenizer: model file, training checkpoint or run, pretrained folder, repo id or shipped name (default: the shipped default)")
    s.add_argument("--out", required=True, help="output folder (re-running finishes an interrupted dataset)")
    s.add_argument("--resolution", type=positive_int, default=None, help="image side in pixels (default: the tokenizer's training resolution)")
    s.add_argument("--shard-size", type=positive_int, default=10_000, help="token grids per shard (default: %(default)s)")
    s.add_argument("--batch-size", type=positive_int, default=256, help="images per encoder batch (default: %(default)s)")
    s.add_argument("--workers", type=int, default=0, help="DataLoader workers decoding images (default: %(default)s)")
    add_quiet(s)
    s.set_defaults(func=cmd_tokenize_dataset)

    s = sub.add_parser("train-generator", help="train a class-conditional generator on a token dataset: npq train-generator CONFIG")
    s.add_argument("config", help="YAML config (see configs/generation/)")
    s.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.steps=100 model.head=coordinates")
    s.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in train.out_dir")
    s.add_argument("--force", action="store_true", help="start over in a train.out_dir that holds another run (deletes its checkpoints)")
    s.add_argument("--stop-at", type=positive_int, default=None, help="stop at this step (the schedule still spans optim.steps)")
    s.add_argument("--export", default=None, help="also write a generator folder (config.json, model.safetensors, README.md) here")
    s.add_argument("--dry-run", action="store_true", help="check the inputs and run the whole run's mechanics (3 steps, checkpoint, "
                   "resume, evaluation, samples, export) in minutes, with stand-ins for what is missing; exit status 1 on problems")
    add_quiet(s)
    s.set_defaults(func=cmd_train_generator)

    s = sub.add_parser("generate", help="sample images of chosen classes: a labelled grid and the individual images")
    s.add_argument("--checkpoint", "--model", dest="checkpoint", default=None,
                   help="generator folder, train-generator run or checkpoint, repo id, or shipped name (default: the shipped Fashion-MNIST generator)")
    s.add_argument("--class", dest="classes", action="append", default=None,
                   help="class name or number (repeatable, or comma-separated; default: every class)")
    s.add_argument("--n", type=positive_int, default=8, help="images per class (default: %(default)s)")
    s.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance scale, 1 = none (default: %(default)s)")
    s.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    s.add_argument("--top-k", type=int, default=0, help="keep the k most likely classes of each label, 0 = all (default: %(default)s)")
    s.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--batch-size", type=positive_int, default=64, help="images sampled at once (default: %(default)s)")
    s.add_argument("--out", default="npq_generated/grid.png", help="grid image; the individual images go to the folder of the same "
                                                                  "name without .png (default: %(default)s)")
    s.add_argument("--force", action="store_true", help="replace an existing grid and images")
    add_quiet(s)
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("eval-generator", help="class consistency, Fréchet distance of classifier features, bits per token, "
                                              "sampling speed (Fashion-MNIST generators)")
    s.add_argument("--checkpoint", "--model", dest="checkpoint", default=None, help="generator (default: the shipped one)")
    s.add_argument("--samples", type=positive_int, default=10_000, help="generated images for the metrics (default: %(default)s)")
    s.add_argument("--cfg", default="2.0", help="guidance scales, comma-separated: one result each (default: %(default)s)")
    s.add_argument("--test-tokens", default=None, help="token dataset of the test split for bits per token (npq tokenize-dataset "
                                                     "fashion-mnist:test ...); default: tokenized on the fly")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--batch-size", type=positive_int, default=250, help="images sampled at once (default: %(default)s)")
    s.add_argument("--no-speed", action="store_true", help="skip the sampling-speed measurement")
    s.add_argument("--max-test", type=positive_int, default=None, help="test grids for bits per token (default: all 10,000)")
    s.add_argument("--out", default=None, help="also write the results as JSON here")
    s.add_argument("--force", action="store_true", help="replace an existing --out file")
    add_quiet(s)
    s.set_defaults(func=cmd_eval_generator)
