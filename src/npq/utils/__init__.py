"""Small helpers shared by every layer: atomic files, torch.distributed, progress bars, figures,
histogram statistics, configuration errors. Nothing here imports the rest of npq."""
