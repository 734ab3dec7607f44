"""Commands to train and evaluate tokenizers: train, eval."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..utils.fileio import atomic_write_text
from .common import add_model_arg, add_quiet, positive_int, say


def _dry(fn, args, **kw) -> int:
    report = fn(args.config, args.overrides, progress=not args.quiet, log=say, **kw)
    print(report.format())
    return 0 if report.ok else 1


def cmd_train(args: argparse.Namespace) -> int:
    from ..train import Trainer, latest_checkpoint, load_config

    if args.dry_run:
        from ..apps.dry_run import dry_run_train

        return _dry(dry_run_train, args)
    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg, resume=bool(args.resume), progress=not args.quiet, force=args.force)
    try:
        res = trainer.run(steps=args.stop_at)
    except KeyboardInterrupt:
        last = latest_checkpoint(cfg.train.out_dir)
        where = f"the last checkpoint is {last}" if last else "no checkpoint was written yet"
        say(f"\nnpq train: interrupted at step {trainer.step}; {where}. Continue with: npq train {args.config} "
            f"{' '.join(args.overrides)} --resume".replace("  ", " "))
        return 130
    if trainer.rank == 0:
        print(json.dumps(res, indent=2))
    return 0


DEFAULT_EVAL_METRICS = "psnr,ssim,lpips,rfid,usage"
BUILTIN_METRICS = "psnr,ssim,ms_ssim,lpips,rfid,effnet_pd,effnet_fd,usage"  # the registry checks names at run time


def cmd_eval(args: argparse.Namespace) -> int:
    from ..apps.evaluate import evaluate_tokenizer
    from ..metrics import format_results

    if args.config:
        if args.checkpoint:
            raise ValueError("give one of --checkpoint C or --config CFG (an untrained model, for smoke runs), not both")
        from ..models import build_tokenizer
        from ..train import load_config

        cfg = load_config(args.config, args.overrides or [])
        model = build_tokenizer(cfg.model, cfg.data.resolution).eval()
    else:
        from ..zoo import load_tokenizer

        model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    from ..metrics.models import missing_metric_weights

    explicit = args.metrics is not None
    metrics = [m.strip() for m in (args.metrics or DEFAULT_EVAL_METRICS).split(",") if m.strip()]
    if not explicit:  # the defaults work offline: metrics whose weights are missing are skipped, said once each
        for m, msg in missing_metric_weights(metrics, args.lpips_weights, args.inception_weights).items():
            metrics.remove(m)
            say(f"npq eval: skipping {m}: {msg.split(': ', 1)[1]} (ask for it with --metrics to make this an error)")
    if not args.quiet:
        say("npq eval: " + (f"each image resized (short side, {args.interpolation}) and centre-cropped to {args.resolution} px"
                            if args.resolution else "native resolution (each image padded to the model's multiple and cropped back)")
            + f"; metrics: {', '.join(metrics)}")
    res = evaluate_tokenizer(model, args.data, resolution=args.resolution or None, metrics=metrics, batch_size=args.batch_size,
                             lpips_weights=args.lpips_weights, inception_weights=args.inception_weights,
                             fid_cache=args.fid_cache, progress=not args.quiet, interpolation=args.interpolation)
    print(format_results(res))
    if args.out:
        atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..apps.compare import format_table, run_comparison

    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    if args.dry_run:
        from ..apps.dry_run import dry_run_compare

        return _dry(dry_run_compare, args, only=only)
    try:
        summary = run_comparison(args.config, args.overrides, only=only, out=args.out, progress=not args.quiet,
                                 log=say, train=not args.report_only)
    except KeyboardInterrupt:
        say(f"\nnpq compare: interrupted; finished runs are kept and training resumes from its last checkpoint. "
            f"Continue with: npq compare {args.config} {' '.join(args.overrides)}".rstrip())
        return 130
    print(format_table(summary))
    if args.out:
        print(f"wrote {args.out}/comparison.md, comparison.json, figures/comparison.png")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    import numpy as np

    from ..models.official import from_official
    from ..utils.fileio import SAFETENSORS_SUFFIX, atomic_write, check_output, save_safetensors

    out = Path(args.out)
    if out.suffix != SAFETENSORS_SUFFIX:
        raise ValueError(f"--out must end in {SAFETENSORS_SUFFIX} (an npq model file), got {out}")
    imap = out.with_name(out.name[: -len(SAFETENSORS_SUFFIX)] + ".index_map.npy")
    for o in (out, imap):
        check_output(o, [args.checkpoint], None, "", args.force)
        if o.exists() and not args.force:
            raise ValueError(f"{o} exists: pass --force to replace it")
    tok, model_cfg, index_map = from_official(args.checkpoint, use_ema=not args.no_ema)
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in tok.state_dict().items()}
    config = {"name": f"official:{Path(args.checkpoint).name}", "model": model_cfg,
              "data": {"resolution": model_cfg["vit"]["image_size"]}}
    save_safetensors(out, {"format": "npq-model", "version": 1, "config": config, "model": weights, "step": 0})
    print(f"wrote {out} (npq parity model: ViT width {model_cfg['vit']['width']}, depth {model_cfg['vit']['depth']}, "
          f"{'EMA' if not args.no_ema else 'raw'} weights)")
    if index_map is not None:
        atomic_write(imap, lambda f: np.save(f, index_map, allow_pickle=False))
        print(f"wrote {imap}: npq_tokens = index_map[their_tokens] (their Λ24 codebook order -> npq's indices)")
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("train", help="train a tokenizer: npq train CONFIG [key=value ...] (torchrun for several processes)")
    s.add_argument("config", help="YAML config (see configs/)")
    s.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.steps=1000 data.batch_size=8")
    s.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in train.out_dir")
    s.add_argument("--force", action="store_true",
                   help="start over in a train.out_dir that holds another run (deletes its checkpoints); without it that is refused")
    s.add_argument("--stop-at", type=positive_int, default=None, help="stop at this step (the schedule still spans optim.steps)")
    s.add_argument("--dry-run", action="store_true",
                   help="check data and weights, then run everything the real run will (a few steps, checkpoint, resume, "
                        "the final evaluation) in minutes, in <out_dir>.dry-run; exit 1 if anything must be fixed first")
    add_quiet(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("compare", help="train the same tokenizer with each quantizer and compare them (resumable): npq compare CONFIG")
    s.add_argument("config", help="comparison config (see configs/compare_cpu.yaml)")
    s.add_argument("overrides", nargs="*", help="key=value overrides of every run's training config, e.g. optim.steps=50")
    s.add_argument("--only", help="comma-separated run labels to train now (the report shows every finished run)")
    s.add_argument("--out", default="npq_compare", help="folder for comparison.md / .json / figures/ (default: %(default)s; "
                                                         "the project's own report: --out docs)")
    s.add_argument("--report-only", action="store_true", help="write the report of the finished runs, train nothing")
    s.add_argument("--dry-run", action="store_true",
                   help="check data and weights, then run everything the real run will (a few steps, checkpoint, resume, "
                        "the final evaluation) in minutes, in <out_dir>.dry-run; exit 1 if anything must be fixed first")
    add_quiet(s)
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("convert", help="the authors' released tokenizer checkpoint (bsq-vit, Λ24-SQ) -> an npq model file",
                       description="Map the authors' ViT tokenizer checkpoint key by key onto npq's parity model "
                                   "(see docs/training.md) and their Λ24 codebook order onto npq's indices. "
                                   "Example: npq convert imagenet_256x256_l24sq.pt --out l24sq.safetensors")
    s.add_argument("checkpoint", help="their checkpoint (.pt with state_dict / ema_state_dict); read without executing code")
    s.add_argument("--out", required=True, help="npq model file to write (.safetensors); the index map goes next to it")
    s.add_argument("--no-ema", action="store_true", help="convert the raw instead of the EMA weights")
    s.add_argument("--force", action="store_true", help="replace existing output files")
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("eval", help="reconstruction metrics (PSNR, SSIM, MS-SSIM, LPIPS, rFID) and codebook usage")
    add_model_arg(s, ema=True)
    s.add_argument("--config", help="instead of a model: a config, evaluated untrained (smoke runs)")
    s.add_argument("overrides", nargs="*", help="key=value overrides for --config")
    s.add_argument("--data", required=True, help="folder of images (recursive)")
    s.add_argument("--resolution", type=int, default=0,
                   help="resize (short side) + centre-crop to this side, as the papers' 128/256-px protocols "
                        "(default 0: native resolution, as npq reconstruct and compress see photos)")
    s.add_argument("--metrics", default=None,
                   help=f"comma-separated, from: {BUILTIN_METRICS} and plugins (default: {DEFAULT_EVAL_METRICS}, "
                        "skipping those whose pretrained weights are missing, with a note)")
    s.add_argument("--interpolation", choices=["bicubic", "lanczos", "bilinear"], default="bicubic",
                   help="resize filter with --resolution (lanczos: the authors' evaluation; default: %(default)s)")
    s.add_argument("--batch-size", type=positive_int, default=16)
    s.add_argument("--lpips-weights", help="AlexNet checkpoint for LPIPS (else $NPQ_LPIPS_BACKBONE / torch hub cache)")
    s.add_argument("--inception-weights", help="torch-fidelity InceptionV3 weights (else $NPQ_INCEPTION_WEIGHTS / cache)")
    s.add_argument("--fid-cache", help="folder to cache real-image feature statistics")
    s.add_argument("--out", help="write the results as JSON")
    add_quiet(s)
    s.set_defaults(func=cmd_eval)
