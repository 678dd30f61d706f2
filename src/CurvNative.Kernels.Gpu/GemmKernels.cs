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
/// The edge of a GEMM thread group as a type, so that ILGPU specialises each kernel per edge and every
/// shared-memory allocation has a compile-time size (CLBlast's tuning parameters, chosen per device).
/// Implementations return a literal.
/// </summary>
public interface ITileEdge
{
    /// <summary>Threads per group edge (the group is Edge x Edge threads).</summary>
    int Edge { get; }
}

/// <summary>4 x 4 groups (16 threads): ILGPU's CPU accelerator, where every thread of a group is an OS thread.</summary>
public readonly struct Tile4 : ITileEdge
{
    /// <inheritdoc />
    public int Edge => 4;
}

/// <summary>8 x 8 groups (64 threads).</summary>
public readonly struct Tile8 : ITileEdge
{
    /// <inheritdoc />
    public int Edge => 8;
}

/// <summary>16 x 16 groups (256 threads): GPUs.</summary>
public readonly struct Tile16 : ITileEdge
{
    /// <inheritdoc />
    public int Edge => 16;
}

/// <summary>
/// Family 1-3 workhorse: tiled GEMMs over shared memory whose group edge E is the compile-time type
/// <c>TTile</c> of each kernel (<see cref="Tile4"/>, <see cref="Tile8"/>, <see cref="Tile16"/>).
/// <list type="bullet">
/// <item><see cref="Gemm{T, TOps, TTile}"/>: one element of C per thread, an E x E block per group, K in steps of E;
/// shared memory 2 E^2 elements.</item>
/// <item><see cref="GemmBlocked{T, TOps, TTile}"/>: register blocking, a 4 x 4 block of C per thread (rows ty + E i,
/// columns tx + E j), a 4E x 4E block per group, K in steps of E; shared memory 8 E^2 elements (16 KB in double
/// at E = 16). Each shared element read feeds four multiply-adds instead of one.</item>
/// </list>
/// Both are launched with grid (row blocks, column blocks, batch) and group (E, E, 1). Every thread of a group
/// reaches every barrier (out-of-range threads load zeros and skip only the store), so the kernels are correct on
/// GPUs, not only on the CPU accelerator.
/// </summary>
public static class GemmKernels
{
    /// <summary>Register block per thread of <see cref="GemmBlocked{T, TOps, TTile}"/> (4 x 4).</summary>
    public const int Block = 4;

    /// <summary>Shared-memory elements of <see cref="Gemm{T, TOps, TTile}"/> for group edge <paramref name="edge"/>.</summary>
    public static int SimpleSharedElements(int edge) => 2 * edge * edge;

    /// <summary>Shared-memory elements of <see cref="GemmBlocked{T, TOps, TTile}"/> for group edge <paramref name="edge"/>.</summary>
    public static int BlockedSharedElements(int edge) => 2 * Block * edge * edge;

    /// <summary>One element per thread; launch with grid (ceil(M/E), ceil(N/E), batch) and group (E, E, 1).</summary>
    public static void Gemm<T, TOps, TTile>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs<T> p)
        where T : unmanaged where TOps : struct, INumOps<T> where TTile : struct, ITileEdge
    {
        var ops = default(TOps);
        int e = default(TTile).Edge;
        var tileA = SharedMemory.Allocate<T>(default(TTile).Edge * default(TTile).Edge);
        var tileB = SharedMemory.Allocate<T>(default(TTile).Edge * default(TTile).Edge);
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxX * e + ty, col = Grid.IdxY * e + tx;
        long z = Grid.IdxZ;
        long aBase = p.A0 + z * p.BatchA, bBase = p.B0 + z * p.BatchB;
        T acc = ops.Zero;
        for (int t0 = 0; t0 < p.K; t0 += e)
        {
            int ak = t0 + tx, bk = t0 + ty;
            tileA[ty * e + tx] = row < p.M && ak < p.K ? a[aBase + row * p.RsA + ak * p.CsA] : ops.Zero;
            tileB[ty * e + tx] = bk < p.K && col < p.N ? b[bBase + bk * p.RsB + col * p.CsB] : ops.Zero;
            Group.Barrier();
            for (int q = 0; q < e; q++)
                acc = ops.Add(acc, ops.Mul(tileA[ty * e + q], tileB[q * e + tx]));
            Group.Barrier();
        }
        if (row < p.M && col < p.N)
        {
            Put(ops, p, c, p.C0 + z * p.BatchC + row * p.Ldc + col, acc);
        }
    }

    /// <summary>
    /// Register-blocked: 4 x 4 elements per thread; launch with grid (ceil(M/4E), ceil(N/4E), batch) and group (E, E, 1).
    /// Shared A block [4E, E] and B block [E, 4E]; each of the E^2 threads loads 4 elements of each per K step.
    /// </summary>
    public static void GemmBlocked<T, TOps, TTile>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs<T> p)
        where T : unmanaged where TOps : struct, INumOps<T> where TTile : struct, ITileEdge
    {
        var ops = default(TOps);
        int e = default(TTile).Edge;
        int w = Block * e; // block edge 4E
        var sa = SharedMemory.Allocate<T>(Block * default(TTile).Edge * default(TTile).Edge); // [4E rows, E k]
        var sb = SharedMemory.Allocate<T>(Block * default(TTile).Edge * default(TTile).Edge); // [E k, 4E cols]
        int tx = Group.IdxX, ty = Group.IdxY, lin = ty * e + tx, threads = e * e;
        int row0 = Grid.IdxX * w, col0 = Grid.IdxY * w;
        long z = Grid.IdxZ;
        long aBase = p.A0 + z * p.BatchA, bBase = p.B0 + z * p.BatchB;
        T c00 = ops.Zero, c01 = ops.Zero, c02 = ops.Zero, c03 = ops.Zero;
        T c10 = ops.Zero, c11 = ops.Zero, c12 = ops.Zero, c13 = ops.Zero;
        T c20 = ops.Zero, c21 = ops.Zero, c22 = ops.Zero, c23 = ops.Zero;
        T c30 = ops.Zero, c31 = ops.Zero, c32 = ops.Zero, c33 = ops.Zero;
        for (int k0 = 0; k0 < p.K; k0 += e)
        {
            for (int s = 0; s < Block; s++)
            {
                int idx = lin + s * threads;
                // A block: element (r, kk) at r * E + kk; consecutive threads read consecutive k (contiguous when CsA = 1).
                int ar = idx / e, ak = idx % e;
                int gr = row0 + ar, gk = k0 + ak;
                sa[idx] = gr < p.M && gk < p.K ? a[aBase + gr * p.RsA + gk * p.CsA] : ops.Zero;
                // B block: element (kk, cc) at kk * 4E + cc; consecutive threads read consecutive columns.
                int bk = idx / w, bc = idx % w;
                int hk = k0 + bk, hc = col0 + bc;
                sb[idx] = hk < p.K && hc < p.N ? b[bBase + hk * p.RsB + hc * p.CsB] : ops.Zero;
            }
            Group.Barrier();
            for (int q = 0; q < e; q++)
            {
                T a0 = sa[ty * e + q], a1 = sa[(ty + e) * e + q], a2 = sa[(ty + 2 * e) * e + q], a3 = sa[(ty + 3 * e) * e + q];
                T b0 = sb[q * w + tx], b1 = sb[q * w + tx + e], b2 = sb[q * w + tx + 2 * e], b3 = sb[q * w + tx + 3 * e];
                c00 = ops.Add(c00, ops.Mul(a0, b0)); c01 = ops.Add(c01, ops.Mul(a0, b1)); c02 = ops.Add(c02, ops.Mul(a0, b2)); c03 = ops.Add(c03, ops.Mul(a0, b3));
                c10 = ops.Add(c10, ops.Mul(a1, b0)); c11 = ops.Add(c11, ops.Mul(a1, b1)); c12 = ops.Add(c12, ops.Mul(a1, b2)); c13 = ops.Add(c13, ops.Mul(a1, b3));
                c20 = ops.Add(c20, ops.Mul(a2, b0)); c21 = ops.Add(c21, ops.Mul(a2, b1)); c22 = ops.Add(c22, ops.Mul(a2, b2)); c23 = ops.Add(c23, ops.Mul(a2, b3));
                c30 = ops.Add(c30, ops.Mul(a3, b0)); c31 = ops.Add(c31, ops.Mul(a3, b1)); c32 = ops.Add(c32, ops.Mul(a3, b2)); c33 = ops.Add(c33, ops.Mul(a3, b3));
            }
            Group.Barrier();
        }
        long cBase = p.C0 + z * p.BatchC;
        int r0 = row0 + ty, q0 = col0 + tx;
        Store(ops, p, c, cBase, r0, q0, e, c00, c01, c02, c03);
        Store(ops, p, c, cBase, r0 + e, q0, e, c10, c11, c12, c13);
        Store(ops, p, c, cBase, r0 + 2 * e, q0, e, c20, c21, c22, c23);
        Store(ops, p, c, cBase, r0 + 3 * e, q0, e, c30, c31, c32, c33);
    }

    /// <summary>Writes one row of a thread's 4 x 4 block: columns col, col + E, col + 2E, col + 3E of row <paramref name="row"/>.</summary>
    private static void Store<T, TOps>(TOps ops, GemmArgs<T> p, ArrayView<T> c, long cBase, int row, int col, int e, T v0, T v1, T v2, T v3)
        where T : unmanaged where TOps : struct, INumOps<T>
    {
        if (row >= p.M) return;
        long at = cBase + row * p.Ldc + col;
        if (col < p.N) Put(ops, p, c, at, v0);
        if (col + e < p.N) Put(ops, p, c, at + e, v1);
        if (col + 2 * e < p.N) Put(ops, p, c, at + 2 * e, v2);
        if (col + 3 * e < p.N) Put(ops, p, c, at + 3 * e, v3);
    }

    /// <summary>c[at] = alpha acc + beta c[at], without reading c when beta = 0 (C may hold garbage or NaN then, as in BLAS).</summary>
    private static void Put<T, TOps>(TOps ops, GemmArgs<T> p, ArrayView<T> c, long at, T acc) where T : unmanaged where TOps : struct, INumOps<T>
        => c[at] = ops.IsZero(p.Beta) ? ops.Mul(p.Alpha, acc) : ops.Add(ops.Mul(p.Alpha, acc), ops.Mul(p.Beta, c[at]));

    /// <summary>Mirrors the upper triangle of the n x n matrix c into its lower triangle (after a SYRK-shaped product).</summary>
    public static void Symmetrize<T>(Index1D i, ArrayView<T> c, int n) where T : unmanaged
    {
        int r = i / n, col = i % n;
        if (col < r) c[(long)r * n + col] = c[(long)col * n + r];
    }
}
