//! Segmentation metrics (Dice, IoU, HD95, …) and losses — not implemented yet (issue 3).
