using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CurvNative.Kernels;

/// <summary>
/// Transposition work on a square row-major matrix [n, n]: mirroring the upper triangle (KFAC factors are
/// accumulated as upper triangles by SYRK) and transposing in place (LAPACK returns eigenvectors as rows).
/// Walking a column strides by n elements, and for n near a multiple of 1024 (the CNN's 2048 and 2049) every line of
/// such a walk falls in the same few L1 sets; so both move 8 x 8 blocks through AVX registers (float32), or 32 x 32
/// tiles through two stack buffers (other types), reading and writing rows only. A 32 x 32 in-place swap walking
/// columns took 20 ms for n = 2048.
/// </summary>
internal static unsafe class SquareMatrix
{
    private const int Tile = 32;

    /// <summary>Copies the strict upper triangle of m [n, n] onto its lower triangle.</summary>
    public static void MirrorUpper<T>(T* m, int n) where T : unmanaged
    {
        if (typeof(T) == typeof(float) && Avx.IsSupported) Blocked((float*)m, n, mirror: true);
        else Tiled(m, n, mirror: true);
    }

    /// <summary>Replaces m [n, n] by its transpose.</summary>
    public static void TransposeInPlace<T>(T* m, int n) where T : unmanaged
    {
        if (typeof(T) == typeof(float) && Avx.IsSupported) Blocked((float*)m, n, mirror: false);
        else Tiled(m, n, mirror: false);
    }

    /// <summary>Full 8 x 8 blocks through registers; for a mirror, each block above the diagonal is written transposed
    /// onto its partner below; for a transpose, the two partners swap. Diagonal blocks and the ragged edge go element
    /// by element.</summary>
    private static void Blocked(float* m, int n, bool mirror)
    {
        int full = n & ~7;
        for (int ib = 0; ib < full; ib += 8)
        {
            for (int jb = ib + 8; jb < full; jb += 8)
            {
                float* upper = m + (long)ib * n + jb, lower = m + (long)jb * n + ib;
                var u = Block8.Load(upper, n).Transposed();
                if (!mirror) Block8.Load(lower, n).Transposed().Store(upper, n);
                u.Store(lower, n);
            }
            for (int i = ib; i < ib + 8; i++)
                for (int j = i + 1; j < ib + 8; j++) Place(m, n, i, j, mirror);
        }
        for (int i = 0; i < n; i++)
            for (int j = Math.Max(full, i + 1); j < n; j++) Place(m, n, i, j, mirror);
    }

    /// <summary>Element (i, j) above the diagonal onto (j, i): copied for a mirror, swapped for a transpose.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Place<T>(T* m, int n, int i, int j, bool mirror) where T : unmanaged
    {
        T upper = m[(long)i * n + j];
        if (!mirror) m[(long)i * n + j] = m[(long)j * n + i];
        m[(long)j * n + i] = upper;
    }

    /// <summary>For each tile pair (I, J) with J at or right of I: the upper tile is read row by row into a buffer
    /// transposed, and so (for a transpose) is its partner; then the buffers are written back row by row onto the
    /// partner and onto the upper tile. A mirror writes only the part strictly below the diagonal.</summary>
    private static void Tiled<T>(T* m, int n, bool mirror) where T : unmanaged
    {
        T* upperT = stackalloc T[Tile * Tile];
        T* lowerT = stackalloc T[Tile * Tile];
        for (int ib = 0; ib < n; ib += Tile)
        {
            int ie = Math.Min(ib + Tile, n);
            for (int jb = ib; jb < n; jb += Tile)
            {
                int je = Math.Min(jb + Tile, n);
                // upperT[j - jb][i - ib] = m[i][j] and lowerT[i - ib][j - jb] = m[j][i].
                for (int i = ib; i < ie; i++)
                    for (int j = jb; j < je; j++) upperT[(j - jb) * Tile + (i - ib)] = m[(long)i * n + j];
                if (!mirror)
                    for (int j = jb; j < je; j++)
                        for (int i = ib; i < ie; i++) lowerT[(i - ib) * Tile + (j - jb)] = m[(long)j * n + i];
                for (int j = jb; j < je; j++)
                {
                    // Row j of the lower tile: columns ib .. min(ie, j) for a mirror (strictly below the diagonal).
                    int count = (mirror ? Math.Min(ie, j) : ie) - ib;
                    if (count > 0) new ReadOnlySpan<T>(upperT + (j - jb) * Tile, count).CopyTo(new Span<T>(m + (long)j * n + ib, count));
                }
                if (!mirror)
                    for (int i = ib; i < ie; i++)
                        new ReadOnlySpan<T>(lowerT + (i - ib) * Tile, je - jb).CopyTo(new Span<T>(m + (long)i * n + jb, je - jb));
            }
        }
    }

    /// <summary>Eight rows of eight floats in AVX registers.</summary>
    private readonly struct Block8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        private readonly Vector256<float> _r0 = r0, _r1 = r1, _r2 = r2, _r3 = r3, _r4 = r4, _r5 = r5, _r6 = r6, _r7 = r7;

        public static Block8 Load(float* p, long stride) => new(
            Avx.LoadVector256(p), Avx.LoadVector256(p + stride), Avx.LoadVector256(p + 2 * stride), Avx.LoadVector256(p + 3 * stride),
            Avx.LoadVector256(p + 4 * stride), Avx.LoadVector256(p + 5 * stride), Avx.LoadVector256(p + 6 * stride), Avx.LoadVector256(p + 7 * stride));

        public void Store(float* p, long stride)
        {
            Avx.Store(p, _r0); Avx.Store(p + stride, _r1); Avx.Store(p + 2 * stride, _r2); Avx.Store(p + 3 * stride, _r3);
            Avx.Store(p + 4 * stride, _r4); Avx.Store(p + 5 * stride, _r5); Avx.Store(p + 6 * stride, _r6); Avx.Store(p + 7 * stride, _r7);
        }

        /// <summary>Unpack pairs of rows, shuffle pairs of pairs, then swap 128-bit halves.</summary>
        public Block8 Transposed()
        {
            var t0 = Avx.UnpackLow(_r0, _r1); var t1 = Avx.UnpackHigh(_r0, _r1);
            var t2 = Avx.UnpackLow(_r2, _r3); var t3 = Avx.UnpackHigh(_r2, _r3);
            var t4 = Avx.UnpackLow(_r4, _r5); var t5 = Avx.UnpackHigh(_r4, _r5);
            var t6 = Avx.UnpackLow(_r6, _r7); var t7 = Avx.UnpackHigh(_r6, _r7);
            var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
            var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
            var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
            var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
            return new(Avx.Permute2x128(s0, s4, 0x20), Avx.Permute2x128(s1, s5, 0x20), Avx.Permute2x128(s2, s6, 0x20), Avx.Permute2x128(s3, s7, 0x20),
                Avx.Permute2x128(s0, s4, 0x31), Avx.Permute2x128(s1, s5, 0x31), Avx.Permute2x128(s2, s6, 0x31), Avx.Permute2x128(s3, s7, 0x31));
        }
    }
}
