using System.Numerics;
using System.Runtime.InteropServices;
using CurvNative.Native;
using CurvNative.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CurvNative.Kernels;

/// <summary>
/// The one place for the library's small dense kernels beneath the seam (formerly three: TensorOps' products, the
/// structured operators' kernels and the solvers' dense helpers): GEMM and products, transposes, traces and norms,
/// symmetric eigendecompositions, Cholesky and LU through LAPACK, orthonormalisation, and the column operations of
/// [n, K] blocks (K vectors of length n, column c of row i at i·K + c: the layout of a linear operator's matmat).
/// Arguments are trusted; inner products are accumulated in double whatever the element type.
/// </summary>
internal static class DenseKernels
{
    // ------------------------------------------------------------------ products

    /// <summary>C[m, n] = α op(A) op(B) + β C, row-major with leading dimensions (OpenBLAS; C is only scaled when k = 0).</summary>
    public static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc) where T : unmanaged
        => Blas.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>c = op(A) op(B) (overwritten, [m, n] row-major); A stored [aRows, aCols], B [bRows, bCols].</summary>
    public static void MatMul<T>(ReadOnlySpan<T> a, int aRows, int aCols, bool transA,
        ReadOnlySpan<T> b, int bRows, int bCols, bool transB, Span<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = transA ? aCols : aRows, k = transA ? aRows : aCols, n = transB ? bRows : bCols;
        // BLAS with beta = 0 writes every element of C (Gemm clears C itself when k = 0).
        Blas.Gemm(transA, transB, m, n, k, T.One, a, aCols, b, bCols, T.Zero, c, n);
    }

    /// <summary>op(A) op(B) as a new [m, n] tensor.</summary>
    public static Tensor<T> MatMulTensor<T>(ReadOnlySpan<T> a, int aRows, int aCols, bool transA,
        ReadOnlySpan<T> b, int bRows, int bCols, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = Tensor<T>.Uninitialized(transA ? aCols : aRows, transB ? bRows : bCols);
        MatMul(a, aRows, aCols, transA, b, bRows, bCols, transB, c.Span);
        return c;
    }

    /// <summary>op(A) op(B) as a new [m, n] array.</summary>
    public static T[] MatMulArray<T>(ReadOnlySpan<T> a, int aRows, int aCols, bool transA,
        ReadOnlySpan<T> b, int bRows, int bCols, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = new T[(transA ? aCols : aRows) * (transB ? bRows : bCols)];
        MatMul(a, aRows, aCols, transA, b, bRows, bCols, transB, c);
        return c;
    }

    // ------------------------------------------------------------------ layout

    /// <summary>dst[j, i, :] = src[i, j, :] for src of shape [d0, d1, inner] (a copy with the two leading axes swapped).</summary>
    public static void SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int inner, Span<T> dst)
    {
        if (inner == 1)
        {
            for (int i = 0; i < d0; i++)
            {
                var row = src.Slice(i * d1, d1);
                for (int j = 0; j < d1; j++) dst[j * d0 + i] = row[j];
            }
            return;
        }
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++)
                src.Slice((i * d1 + j) * inner, inner).CopyTo(dst.Slice((j * d0 + i) * inner, inner));
    }

    /// <summary>A new [cols, rows] tensor holding the transpose of the [rows, cols] row-major matrix.</summary>
    public static Tensor<T> Transpose<T>(ReadOnlySpan<T> a, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(cols, rows);
        SwapLeadingAxes(a, rows, cols, 1, t.Span);
        return t;
    }

    /// <summary>dst = α src.</summary>
    public static void Scale<T>(ReadOnlySpan<T> src, T alpha, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
        => TensorPrimitives.Multiply(src, alpha, dst);

    /// <summary>acc += x.</summary>
    public static void AddInPlace<T>(Span<T> acc, ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => TensorPrimitives.Add(acc, x, acc);

    // ------------------------------------------------------------------ conversions

    /// <summary>A copy of <paramref name="x"/> as doubles.</summary>
    public static double[] ToDouble<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = GC.AllocateUninitializedArray<double>(x.Length);
        if (typeof(T) == typeof(double)) MemoryMarshal.Cast<T, double>(x).CopyTo(r);
        else if (typeof(T) == typeof(float)) TensorPrimitives.ConvertChecked(MemoryMarshal.Cast<T, float>(x), r.AsSpan());
        else for (int i = 0; i < x.Length; i++) r[i] = double.CreateTruncating(x[i]);
        return r;
    }

    /// <summary>Writes doubles into a span of T (rounding for float).</summary>
    public static void FromDouble<T>(ReadOnlySpan<double> x, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double)) x.CopyTo(MemoryMarshal.Cast<T, double>(dst));
        else if (typeof(T) == typeof(float)) TensorPrimitives.ConvertTruncating(x, MemoryMarshal.Cast<T, float>(dst));
        else for (int i = 0; i < x.Length; i++) dst[i] = T.CreateTruncating(x[i]);
    }

    /// <summary>A new tensor of the given shape holding <paramref name="x"/> converted to T.</summary>
    public static Tensor<T> ToTensor<T>(ReadOnlySpan<double> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(shape);
        FromDouble(x, t.Span);
        return t;
    }

    // ------------------------------------------------------------------ reductions

    /// <summary>Σ_i a[i, i] of an [n, n] matrix, accumulated in double.</summary>
    public static double Trace<T>(ReadOnlySpan<T> a, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double s = 0;
        for (int i = 0; i < n; i++) s += double.CreateTruncating(a[i * n + i]);
        return s;
    }

    /// <summary>‖a‖_F = sqrt(Σ a²), accumulated in double with scaling against overflow.</summary>
    public static double FrobeniusNorm<T>(ReadOnlySpan<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double scale = 0;
        foreach (var v in a) scale = Math.Max(scale, Math.Abs(double.CreateTruncating(v)));
        if (scale == 0 || double.IsNaN(scale)) return scale;
        if (double.IsInfinity(scale)) return double.PositiveInfinity;
        double s = 0;
        foreach (var v in a) { double r = double.CreateTruncating(v) / scale; s += r * r; }
        return scale * Math.Sqrt(s);
    }

    /// <summary>Σ_i a[i] b[i] in double.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Reductions.Dot(a, b);

    /// <summary>‖a‖₂.</summary>
    public static double Norm(ReadOnlySpan<double> a) => Math.Sqrt(Reductions.Dot(a, a));

    // ------------------------------------------------------------------ factorisations (LAPACK)

    /// <summary>
    /// Sign and log|det| of an [n, n] matrix from its LU factorisation with partial pivoting (LAPACK dgetrf, in double).
    /// An exactly zero pivot gives (0, −∞); a NaN anywhere gives (0, NaN). The determinant of the empty matrix is 1.
    /// </summary>
    public static (int Sign, double LogAbs) SignLogDet<T>(ReadOnlySpan<T> a, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n == 0) return (1, 0);
        var lu = ToDouble(a[..(n * n)]);
        foreach (var v in lu) if (double.IsNaN(v)) return (0, double.NaN);
        var pivots = new int[n];
        if (Lapack.TryLu(n, lu, pivots) > 0) return (0, double.NegativeInfinity);
        int sign = 1;
        double logAbs = 0;
        for (int i = 0; i < n; i++)
        {
            double u = lu[i * n + i];
            if (double.IsNaN(u)) return (0, double.NaN);
            if (u < 0) sign = -sign;
            if (pivots[i] != i + 1) sign = -sign;
            logAbs += Math.Log(Math.Abs(u));
        }
        return (sign, logAbs);
    }

    /// <summary>The inverse of an [n, n] matrix through LAPACK's LU (dgetrf + dgetrs), or null when it is singular
    /// (an exactly zero pivot) or not finite.</summary>
    public static double[]? Invert(ReadOnlySpan<double> a, int n)
    {
        var lu = a[..(n * n)].ToArray();
        foreach (var v in lu) if (!double.IsFinite(v)) return null;
        var pivots = new int[n];
        if (Lapack.TryLu(n, lu, pivots) > 0) return null;
        var inv = new double[n * n];
        Lapack.LuSolveIdentity(n, lu, pivots, inv);
        foreach (var v in inv) if (!double.IsFinite(v)) return null;
        return inv;
    }

    /// <summary>In-place Cholesky of the lower triangle of the row-major [n, n] matrix (LAPACK potrf); 0 or the order of
    /// the leading minor that is not positive definite.</summary>
    public static int TryCholesky<T>(int n, Span<T> a) where T : unmanaged => Lapack.TryCholesky(n, a);

    /// <summary>Solves A X = B in place for the factor from <see cref="TryCholesky{T}"/> and B [n, nrhs] row-major (potrs).</summary>
    public static void CholeskySolve<T>(int n, int nrhs, ReadOnlySpan<T> factor, Span<T> b) where T : unmanaged
        => Lapack.CholeskySolve(n, nrhs, factor, b);

    /// <summary>
    /// Symmetric eigendecomposition (LAPACK syevd) in place: on return row i of <paramref name="a"/> is the unit
    /// eigenvector of <paramref name="eigenvalues"/>[i] (ascending); only the upper triangle of a is read.
    /// </summary>
    public static void SymmetricEigenInPlace<T>(int n, Span<T> a, Span<T> eigenvalues, bool computeVectors = true) where T : unmanaged
        => Lapack.SymmetricEigen(n, a, eigenvalues, computeVectors);

    /// <summary>
    /// Symmetric eigendecomposition of the [n, n] row-major matrix <paramref name="a"/> (only its upper
    /// triangle, row ≤ column, is read; it is not modified) by LAPACK xSYEVD. Returns the eigenvalues in
    /// ascending order and the eigenvectors as rows: vectors[i·n .. i·n + n) belongs to values[i].
    /// </summary>
    public static (double[] Values, double[] Vectors) SymmetricEigen(ReadOnlySpan<double> a, int n)
    {
        var v = a.ToArray();
        var w = new double[n];
        Lapack.SymmetricEigen<double>(n, v, w, computeVectors: true);
        return (w, v);
    }

    /// <summary>(A + Aᵀ)/2 in place for an [n, n] matrix.</summary>
    public static void Symmetrize(Span<double> a, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double s = 0.5 * (a[i * n + j] + a[j * n + i]);
                a[i * n + j] = s;
                a[j * n + i] = s;
            }
    }

    /// <summary>
    /// Orthonormal basis of the columns of Y ([n, m] row-major) with numerical rank truncation:
    /// Y ≈ Q R with Q [n, r] (QᵀQ = I) and R = QᵀY [r, m]. Computed by two passes of an
    /// eigenvalue-based Cholesky-QR (Gram matrix YᵀY = V Θ Vᵀ, Q = Y V Θ^{-1/2}; then once more on Q to
    /// restore orthogonality, as CholeskyQR2 of Fukaya et al. 2014), which costs GEMMs only. Directions
    /// whose squared singular value is below <c>rankTolerance · θ_max</c> are dropped (the Gram matrix
    /// cannot resolve singular values below about √ε · σ_max anyway). r may be 0 (Y = 0).
    /// </summary>
    public static (double[] Q, double[] R, int Rank) Orthonormalize(ReadOnlySpan<double> y, int n, int m, double rankTolerance = 1e-13)
    {
        var q = y.ToArray();
        int cols = m;
        for (int pass = 0; pass < 2; pass++)
        {
            var g = MatMulArray<double>(q, n, cols, true, q, n, cols, false); // [cols, cols]
            var (theta, vecs) = SymmetricEigen(g, cols);
            double max = cols == 0 ? 0 : Math.Max(theta[cols - 1], 0);
            double threshold = pass == 0 ? rankTolerance * Math.Max(1, m) * max : 1e-3 * max;
            var keep = new List<int>();
            for (int i = cols - 1; i >= 0; i--) if (theta[i] > threshold && max > 0) keep.Add(i);
            int r = keep.Count;
            // B = V_r Θ_r^{-1/2}, [cols, r]
            var b = new double[cols * r];
            for (int j = 0; j < r; j++)
            {
                int e = keep[j];
                double s = 1.0 / Math.Sqrt(theta[e]);
                for (int i = 0; i < cols; i++) b[i * r + j] = vecs[e * cols + i] * s;
            }
            q = MatMulArray<double>(q, n, cols, false, b, cols, r, false);
            cols = r;
        }
        var rr = MatMulArray<double>(q, n, cols, true, y, n, m, false); // [r, m]
        return (q, rr, cols);
    }

    // ------------------------------------------------------------------ column operations on [n, K] blocks

    /// <summary>result[c] = Σ_i a[i, c] b[i, c] in double.</summary>
    public static void ColumnDots<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, int n, int k, Span<double> result)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        result.Clear();
        for (int i = 0; i < n; i++)
        {
            var ra = a.Slice(i * k, k);
            var rb = b.Slice(i * k, k);
            for (int c = 0; c < k; c++) result[c] += double.CreateTruncating(ra[c]) * double.CreateTruncating(rb[c]);
        }
    }

    /// <summary>result[c] = ‖a[:, c]‖₂ in double.</summary>
    public static void ColumnNorms<T>(ReadOnlySpan<T> a, int n, int k, Span<double> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ColumnDots(a, a, n, k, result);
        for (int c = 0; c < k; c++) result[c] = Math.Sqrt(result[c]);
    }

    /// <summary>y[:, c] = α[c] x[:, c] + β[c] y[:, c].</summary>
    public static void ColumnAxpby<T>(ReadOnlySpan<double> alpha, ReadOnlySpan<T> x, ReadOnlySpan<double> beta, Span<T> y, int n, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> a = k <= 256 ? stackalloc T[k] : new T[k];
        Span<T> b = k <= 256 ? stackalloc T[k] : new T[k];
        for (int c = 0; c < k; c++) { a[c] = T.CreateTruncating(alpha[c]); b[c] = T.CreateTruncating(beta[c]); }
        for (int i = 0; i < n; i++)
        {
            var rx = x.Slice(i * k, k);
            var ry = y.Slice(i * k, k);
            for (int c = 0; c < k; c++) ry[c] = a[c] * rx[c] + b[c] * ry[c];
        }
    }

    /// <summary>The first column holding a NaN or an infinity, or −1 when every entry is finite.</summary>
    public static int FirstNonFiniteColumn<T>(ReadOnlySpan<T> x, int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < k; c++)
                if (!T.IsFinite(x[i * k + c])) return c;
        return -1;
    }

    /// <summary>Copies the columns <paramref name="cols"/> of an [n, k] block into a new [n, cols.Length] tensor.</summary>
    public static Tensor<T> GatherColumns<T>(ReadOnlySpan<T> x, int n, int k, ReadOnlySpan<int> cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = cols.Length;
        var g = Tensor<T>.Uninitialized(n, m);
        var gs = g.Span;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) gs[i * m + j] = x[i * k + cols[j]];
        return g;
    }

    /// <summary>Writes the columns of an [n, cols.Length] block into columns <paramref name="cols"/> of an [n, k] block.</summary>
    public static void ScatterColumns<T>(ReadOnlySpan<T> g, int n, int k, ReadOnlySpan<int> cols, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = cols.Length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) x[i * k + cols[j]] = g[i * m + j];
    }

    /// <summary>Identity columns e_{j0} … e_{j0+k−1} as a double [n, k] block.</summary>
    public static double[] IdentityColumns(int n, int j0, int k)
    {
        var e = new double[n * k];
        for (int c = 0; c < k; c++) e[(j0 + c) * k + c] = 1;
        return e;
    }

    /// <summary>Number of columns per MatMat so that a block of n-vectors holds at most about 2^24 elements.</summary>
    public static int ChunkColumns(int n, int total) => Math.Clamp((1 << 24) / Math.Max(n, 1), 1, Math.Max(total, 1));

    // ------------------------------------------------------------------ Krylov bases

    private const int BasisChunk = 1 << 14;
    private const int ParallelChunks = 8; // below 8 chunks (n < 131072) the loop stays on the calling thread

    /// <summary>
    /// c = V w for the first <paramref name="count"/> rows of a row-major basis V ([count, n] at offset 0 of
    /// <paramref name="basis"/>) and w = <paramref name="w"/>[wOffset .. wOffset + n). Blocked over chunks of w so
    /// that V and w are each read once, chunks in parallel for large n, partial sums reduced in a fixed order (deterministic).
    /// Memory-bound, and about twice as fast as GEMM with one column here.
    /// </summary>
    public static void BasisTimes(double[] basis, int count, int n, double[] w, int wOffset, double[] c)
    {
        int chunks = (n + BasisChunk - 1) / BasisChunk;
        var partial = new double[chunks * count];
        void Chunk(int b)
        {
            int start = b * BasisChunk, len = Math.Min(BasisChunk, n - start);
            var wc = new ReadOnlySpan<double>(w, wOffset + start, len);
            for (int j = 0; j < count; j++)
                partial[b * count + j] = Reductions.Dot(new ReadOnlySpan<double>(basis, j * n + start, len), wc);
        }
        if (chunks >= ParallelChunks) Parallel.For(0, chunks, Chunk);
        else for (int b = 0; b < chunks; b++) Chunk(b);
        Array.Clear(c, 0, count);
        for (int b = 0; b < chunks; b++)
            for (int j = 0; j < count; j++) c[j] += partial[b * count + j];
    }

    /// <summary>w −= Vᵀ c over the first <paramref name="count"/> basis rows (blocked and parallel over chunks of w).</summary>
    public static void SubtractBasisCombination(double[] basis, int count, int n, double[] c, double[] w, int wOffset)
    {
        int chunks = (n + BasisChunk - 1) / BasisChunk;
        void Chunk(int b)
        {
            int start = b * BasisChunk, len = Math.Min(BasisChunk, n - start);
            var wc = new Span<double>(w, wOffset + start, len);
            for (int j = 0; j < count; j++)
                if (c[j] != 0) Reductions.AddScaled(new ReadOnlySpan<double>(basis, j * n + start, len), -c[j], wc);
        }
        if (chunks >= ParallelChunks) Parallel.For(0, chunks, Chunk);
        else for (int b = 0; b < chunks; b++) Chunk(b);
    }
}
