#!/usr/bin/python3
"""The alpha-beta formulas of launch/lib/allreduce_model.py against values worked out by
hand (the arithmetic is in the comments), and the fit recovering known alpha and beta."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch", "lib"))
import allreduce_model as m  # noqa: E402

INTRA = {"alpha": 1e-6, "beta": 100e9}
INTER = {"alpha": 1e-5, "beta": 10e9}


class Formulas(unittest.TestCase):
    def test_ring(self):
        # 2*3*1us + 2*3/4 * 1 MB / 1 GB/s = 6 us + 1.5 ms
        self.assertAlmostEqual(m.ring(4, 1e6, 1e-6, 1e9), 1.506e-3, delta=1e-12)
        # p = 2: 2 alpha + n / beta
        self.assertAlmostEqual(m.ring(2, 1e6, 1e-6, 1e9), 1.002e-3, delta=1e-12)
        self.assertEqual(m.ring(1, 1e6, 1e-6, 1e9), 0.0)

    def test_tree(self):
        # 2*log2(8)*1us + 2 * 1 MB / 1 GB/s = 6 us + 2 ms
        self.assertAlmostEqual(m.tree(8, 1e6, 1e-6, 1e9), 2.006e-3, delta=1e-12)

    def test_hierarchical(self):
        # 16 GPUs, 8 MB: inside a node 7*1us + 7/8*8MB/100GB/s = 77 us, twice = 154 us;
        # across 2 nodes a ring of 1 MB shares: 2*1*10us + 1 MB/10 GB/s = 120 us; 274 us
        self.assertAlmostEqual(m.hierarchical(16, 8e6, INTRA, INTER), 2.74e-4, delta=1e-12)
        # one node: the intra-node ring
        self.assertAlmostEqual(m.hierarchical(8, 8e6, INTRA, INTER), m.ring(8, 8e6, 1e-6, 100e9), delta=1e-15)
        with self.assertRaises(ValueError):
            m.hierarchical(12, 8e6, INTRA, INTER)

    def test_flat_across_nodes(self):
        # ring, 16 GPUs on 2 nodes: 28 NVLink steps * 1us + 2 network steps * 10us = 48 us,
        # plus 2*15/16 * 8 MB / 10 GB/s = 1.5 ms
        self.assertAlmostEqual(m.flat("ring", 16, 8e6, INTRA, INTER), 1.548e-3, delta=1e-12)
        # tree: 2*(7*1us + log2(2)*10us) = 34 us, plus 2 * 8 MB / 10 GB/s = 1.6 ms
        self.assertAlmostEqual(m.flat("tree", 16, 8e6, INTRA, INTER), 1.634e-3, delta=1e-12)

    def test_buckets_and_step(self):
        # 3e6 parameters in 4 MiB buckets (1048576 floats): two full, 902848 floats (3611392 B) left
        self.assertEqual(m.bucket_sizes(3_000_000, 4.0), [4194304, 4194304, 3611392])
        # each bucket pays its latency: 3 * (2 alpha) + 12e6 B / beta at p = 2
        t = m.step_comm(lambda n: m.ring(2, n, 1e-5, 1e9), m.bucket_sizes(3_000_000, 4.0))
        self.assertAlmostEqual(t, 6e-5 + 12e6 / 1e9, delta=1e-12)
        self.assertAlmostEqual(m.efficiency(3.0, 1.0), 0.75)

    def test_fit_recovers_alpha_beta(self):
        for p in (2, 4):
            pts = [(n, m.ring(p, n, 5e-6, 2e9)) for n in (65536, 262144, 1 << 20, 4 << 20)]
            alpha, beta = m.fit_alpha_beta(pts, p)
            self.assertAlmostEqual(alpha / 5e-6, 1.0, places=6)
            self.assertAlmostEqual(beta / 2e9, 1.0, places=6)
        # a line under zero: the best line through zero instead, T = n / beta at p = 2:
        # 1/beta = (1 MiB * 0.5 ms + 2 MiB * 1.5 ms) / (1 MiB^2 + (2 MiB)^2) = 0.7 ms per MiB
        alpha, beta = m.fit_alpha_beta([(1 << 20, 0.5e-3), (1 << 21, 1.5e-3)], 2)
        self.assertEqual(alpha, 0.0)
        self.assertAlmostEqual(beta / ((1 << 20) / 0.7e-3), 1.0, places=9)
        with self.assertRaises(ValueError):
            m.fit_alpha_beta([(1024, 1e-5)], 2)
        with self.assertRaises(ValueError):
            m.fit_alpha_beta([(1024, 2e-5), (2048, 1e-5)], 2)

    def test_sizes_near(self):
        pts = [(1 << k, 1e-6 * k) for k in range(10, 25)]  # 1 KiB .. 16 MiB
        # buckets of 1 MiB and 40 KB: 512 KiB..2 MiB and 20 KB..80 KB
        near = m.sizes_near(pts, [1 << 20, 40000])
        self.assertEqual([n for n, _ in near], [1 << 15, 1 << 16, 1 << 19, 1 << 20, 1 << 21])
        # fewer than two sizes near the buckets: every point
        self.assertEqual(m.sizes_near(pts, [1 << 30]), pts)

    def test_projection_rows(self):
        rows = m.projection(0.01, [4 << 20])
        self.assertEqual([r["gpus"] for r in rows], m.PROJECTED_GPUS)
        for r in rows:
            for a in ("ring", "tree", "hierarchical"):
                self.assertAlmostEqual(r[f"{a}_efficiency"], 0.01 / (0.01 + r[f"{a}_comm_s"]))


if __name__ == "__main__":
    unittest.main()
