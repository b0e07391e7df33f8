//! Connected components of a 3D mask (26-connectivity, as `cc3d`'s default that the BraTS
//! lesion-wise evaluation uses): shared by post-processing (`unet3d`) and the lesion-wise
//! metrics (`brats-metrics`).

use ndarray::Array3;

/// 26-connected components of `mask`: a map of component ids (0 = background, 1..) and
/// each id's size (`sizes[0]` is 0).
pub fn connected_components(mask: &Array3<bool>) -> (Array3<u32>, Vec<usize>) {
    let (d, h, w) = mask.dim();
    let mut comp = Array3::<u32>::zeros((d, h, w));
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for ((z, y, x), &m) in mask.indexed_iter() {
        if !m || comp[[z, y, x]] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        let mut n = 0usize;
        comp[[z, y, x]] = id;
        stack.push([z, y, x]);
        while let Some([cz, cy, cx]) = stack.pop() {
            n += 1;
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (nz, ny, nx) = (cz as i64 + dz, cy as i64 + dy, cx as i64 + dx);
                        if nz < 0 || ny < 0 || nx < 0 {
                            continue;
                        }
                        let q = [nz as usize, ny as usize, nx as usize];
                        if q[0] < d && q[1] < h && q[2] < w && mask[q] && comp[q] == 0 {
                            comp[q] = id;
                            stack.push(q);
                        }
                    }
                }
            }
        }
        sizes.push(n);
    }
    (comp, sizes)
}
