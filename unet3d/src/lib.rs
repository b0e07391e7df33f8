//! The 3D U-Net on candle — not implemented yet (issues 4 and 5).
