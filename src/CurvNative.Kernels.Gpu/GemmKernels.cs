using ILGPU;

namespace CurvNative.Kernels.Gpu;

/// <summary>Strides and scalars of one batched GEMM launch: C_z = alpha A_z B_z + beta C_z, element (i, p) of A at A0 + z BatchA + i RsA + p CsA.</summary>
public struct GemmArgs<T> where T : unmanaged
{
    /// <summary>Shape.</summary>
    public int M, N, K;
    /// <summary>Strides of A (row, column, batch) and offset.</summary>
    public long A0, RsA, CsA, BatchA;
    /// <summary>Strides of B (row, column, batch) and offset.</summary>
    public long B0, RsB, CsB, BatchB;
    /// <summary>Row stride, batch stride and offset of C (columns contiguous).</summary>
    public long C0, Ldc, BatchC;
    /// <summary>Scalars.</summary>
    public T Alpha, Beta;
}

/// <summary>
/// Family 1-3 workhorse: a tiled GEMM with square shared-memory tiles of the compile-time size <see cref="Tile"/>
/// (CLBlast's tuning parameter). One group of Tile x Tile threads computes one Tile x Tile block of C; grid Z is the batch.
/// Every thread of a group reaches both barriers (out-of-range threads load zeros and skip only the store), so the
/// kernel is correct on GPUs, not only on the CPU accelerator. Shared memory: 2 Tile^2 elements per group
/// (4 KB in double at Tile = 16, within every device's 16 KB minimum).
/// </summary>
public static class GemmKernels
{
    /// <summary>Tile edge (threads per group = Tile^2 = 256).</summary>
    public const int Tile = 16;

    /// <summary>The kernel; launch with grid (ceil(N/Tile), ceil(M/Tile), batch) and group (Tile, Tile, 1).</summary>
    public static void Gemm<T, TOps>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs<T> p)
        where T : unmanaged where TOps : struct, INumOps<T>
    {
        var ops = default(TOps);
        var tileA = SharedMemory.Allocate<T>(Tile * Tile);
        var tileB = SharedMemory.Allocate<T>(Tile * Tile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * Tile + ty, col = Grid.IdxX * Tile + tx;
        long z = Grid.IdxZ;
        long aBase = p.A0 + z * p.BatchA, bBase = p.B0 + z * p.BatchB;
        T acc = ops.Zero;
        for (int t0 = 0; t0 < p.K; t0 += Tile)
        {
            int ak = t0 + tx, bk = t0 + ty;
            tileA[ty * Tile + tx] = row < p.M && ak < p.K ? a[aBase + row * p.RsA + ak * p.CsA] : ops.Zero;
            tileB[ty * Tile + tx] = bk < p.K && col < p.N ? b[bBase + bk * p.RsB + col * p.CsB] : ops.Zero;
            Group.Barrier();
            for (int q = 0; q < Tile; q++)
                acc = ops.Add(acc, ops.Mul(tileA[ty * Tile + q], tileB[q * Tile + tx]));
            Group.Barrier();
        }
        if (row < p.M && col < p.N)
        {
            long ci = p.C0 + z * p.BatchC + row * p.Ldc + col;
            c[ci] = ops.IsZero(p.Beta) ? ops.Mul(p.Alpha, acc) : ops.Add(ops.Mul(p.Alpha, acc), ops.Mul(p.Beta, c[ci]));
        }
    }

    /// <summary>Mirrors the upper triangle of the n x n matrix c into its lower triangle (after a SYRK-shaped product).</summary>
    public static void Symmetrize<T>(Index1D i, ArrayView<T> c, int n) where T : unmanaged
    {
        int r = i / n, col = i % n;
        if (col < r) c[(long)r * n + col] = c[(long)col * n + r];
    }
}
