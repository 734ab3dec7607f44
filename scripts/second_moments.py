"""Print the Monte-Carlo normalized second moments of the densest lattices against Conway &
Sloane's Table 2.3 (the table in docs/lattices.md). Usage: python scripts/second_moments.py"""

from npq.lattices.densest import PUBLISHED_G, second_moment

# (lattice, samples, seed) as recorded in docs/lattices.md
RUNS = [("E6", 100_000, 3), ("E6*", 100_000, 3), ("E7", 100_000, 3), ("E7*", 100_000, 3), ("K12", 20_000, 0),
        ("Λ16", 20_000, 0), ("Λ24", 20_000, 5)]

if __name__ == "__main__":
    print("| lattice | G measured ± s.e. | samples | Table 2.3 |\n|---|---|---|---|")
    for name, samples, seed in RUNS:
        g, se = second_moment(name, samples=samples, seed=seed)
        pub = PUBLISHED_G.get(name)
        print(f"| {name} | {g:.6f} ± {se:.6f} | {samples:,} | {pub if pub else '–'} |")
