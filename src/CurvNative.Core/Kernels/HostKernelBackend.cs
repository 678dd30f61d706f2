using System.Numerics;

namespace CurvNative.Kernels;

/// <summary>
/// The families written once for host backends over two primitives, GEMM and Cholesky (factor + solve): the
/// managed and native backends differ only in those.
/// </summary>
public abstract class HostKernelBackend : IKernelBackend
{
    /// <inheritdoc />
    public abstract string Name { get; }
    /// <inheritdoc />
    public virtual string DeviceName => $"CPU ({Environment.ProcessorCount} logical cores)";
    /// <inheritdoc />
    public TransferCounter Transfers { get; } = new();

    /// <inheritdoc />
    public KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T> => new HostBuffer<T>(data);

    /// <inheritdoc />
    public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Gemm(m, n, k, a.Length, b.Length, c.Length);
        GemmCore(transA, transB, m, n, k, alpha, a, b, beta, c);
    }

    /// <summary>GEMM on validated arguments (row-major, leading dimensions from the shapes).</summary>
    protected abstract void GemmCore<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>In-place Cholesky of the lower triangle of the n x n row-major <paramref name="a"/>; returns 0 or the failing minor's order.</summary>
    protected abstract int CholeskyCore<T>(int n, Span<T> a) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>Solves L L^T x = b in place for the factor from <see cref="CholeskyCore{T}"/> (one right-hand side).</summary>
    protected virtual void CholeskySolveCore<T>(int n, ReadOnlySpan<T> l, Span<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => ManagedDense.CholeskySolve(n, l, b);

    /// <inheritdoc />
    public void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, ReadOnlySpan<T> v, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Kronecker(gDim, aDim, k, g, a, v.Length, y.Length);
        long size = (long)gDim * aDim;
        if (size == 0 || k == 0) return;
        var gh = ((HostBuffer<T>)g).Data; var ah = ((HostBuffer<T>)a).Data;
        // T = X A^T for all K columns at once ([K*gDim, aDim] x [aDim, aDim]), then Y_j = G T_j per column.
        var t = new T[k * size];
        GemmCore(false, !transA, k * gDim, aDim, aDim, T.One, v, ah, T.Zero, t);
        for (int j = 0; j < k; j++)
            GemmCore(transG, false, gDim, aDim, gDim, T.One, gh, t.AsSpan((int)(j * size), (int)size), T.Zero, y.Slice((int)(j * size), (int)size));
    }

    /// <inheritdoc />
    public void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Accumulate(n, d, rows.Length, factor.Length);
        SyrkCore(n, d, scale, rows, beta, factor);
    }

    /// <summary>
    /// The upper triangle of F [d, d] = beta F + scale Rᵀ R for rows R [n, d], or, <paramref name="columns"/>, for R given
    /// transposed as [d, n] (F += scale C Cᵀ: a convolution's per-sample gradient [O, S] needs no transpose then). The
    /// strict lower triangle is not maintained: for callers that keep factors as upper triangles (KFAC's accumulator,
    /// which mirrors once at the end), this is <see cref="AccumulateFactor{T}"/> without the mirror on every call.
    /// </summary>
    internal void AccumulateFactorUpper<T>(int n, int d, T scale, ReadOnlySpan<T> rows, bool columns, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Accumulate(n, d, rows.Length, factor.Length);
        SyrkUpperCore(n, d, scale, rows, columns, beta, factor);
    }

    /// <summary>The upper triangle (at least) of F = beta F + scale op(R)ᵀ op(R); the managed oracle writes the full GEMM.</summary>
    protected virtual void SyrkUpperCore<T>(int n, int d, T scale, ReadOnlySpan<T> rows, bool columns, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (columns) GemmCore(false, true, d, d, n, scale, rows, rows, beta, factor);
        else GemmCore(true, false, d, d, n, scale, rows, rows, beta, factor);
    }

    /// <summary>F = beta F + scale R^T R, full symmetric result.</summary>
    protected virtual void SyrkCore<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
        => GemmCore(true, false, d, d, n, scale, rows, rows, beta, factor);

    /// <inheritdoc />
    public int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Woodbury(n, p, jacobian.Length, g.Length, x.Length, lambda);
        var j = ((HostBuffer<T>)jacobian).Data;
        var kernel = new T[(long)n * n];
        GemmCore(false, true, n, n, p, T.One, j, j, T.Zero, kernel);
        for (int i = 0; i < n; i++) kernel[i * n + i] += lambda;
        int info = CholeskyCore<T>(n, kernel);
        if (info != 0) return info;
        var jg = new T[n];
        GemmCore(false, false, n, 1, p, T.One, j, g, T.Zero, jg);
        CholeskySolveCore<T>(n, kernel, jg);
        var result = g[..p].ToArray();
        GemmCore(true, false, p, 1, n, -T.One, j, jg, T.One, result);
        for (int i = 0; i < p; i++) x[i] = result[i] / lambda;
        return 0;
    }

    /// <inheritdoc />
    public void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Taylor(network, this, batch, x.Length, values.Length, laplacians.Length);
        int d = network.Widths[0];
        // Per point: value h [B, w], directions J [B*D, w] (row (b, i) = d h / d x_i), collapsed coefficient l [B, w].
        var h = x[..(batch * d)].ToArray();
        var dirs = new T[(long)batch * d * d];
        for (int b = 0; b < batch; b++) for (int i = 0; i < d; i++) dirs[((long)b * d + i) * d + i] = T.One;
        var lap = new T[batch * d];
        for (int l = 0; l < network.Widths.Count - 1; l++)
        {
            int win = network.Widths[l], wout = network.Widths[l + 1];
            var w = network.HostWeights(l); var bias = network.HostBiases(l);
            var h2 = new T[batch * wout];
            for (int b = 0; b < batch; b++) bias.AsSpan().CopyTo(h2.AsSpan(b * wout, wout));
            GemmCore(false, true, batch, wout, win, T.One, h, w, T.One, h2);
            var dirs2 = new T[(long)batch * d * wout];
            GemmCore(false, true, batch * d, wout, win, T.One, dirs, w, T.Zero, dirs2);
            var lap2 = new T[batch * wout];
            GemmCore(false, true, batch, wout, win, T.One, lap, w, T.Zero, lap2);
            TaylorRules.Activate(network.Activations[l], batch, d, wout, h2, dirs2, lap2);
            h = h2; dirs = dirs2; lap = lap2;
        }
        int o = network.Widths[^1];
        h.AsSpan(0, batch * o).CopyTo(values);
        lap.AsSpan(0, batch * o).CopyTo(laplacians);
    }

    /// <inheritdoc />
    public virtual void Dispose() { }
}

/// <summary>The collapsed Taylor-mode rule of an elementwise activation (one definition for the host backends).</summary>
public static class TaylorRules
{
    /// <summary>sigma, sigma', sigma'' at <paramref name="z"/>.</summary>
    public static (T S, T S1, T S2) Derivatives<T>(TaylorActivation act, T z) where T : IFloatingPointIeee754<T>
    {
        T one = T.One, two = one + one;
        switch (act)
        {
            case TaylorActivation.Identity: return (z, one, T.Zero);
            case TaylorActivation.Tanh: { T t = T.Tanh(z), s1 = one - t * t; return (t, s1, -two * t * s1); }
            case TaylorActivation.Sigmoid: { T s = one / (one + T.Exp(-z)), s1 = s * (one - s); return (s, s1, s1 * (one - two * s)); }
            case TaylorActivation.Sin: { T s = T.Sin(z); return (s, T.Cos(z), -s); }
            default: throw new ArgumentOutOfRangeException(nameof(act), $"Unknown activation {act}.");
        }
    }

    /// <summary>
    /// In place: h = sigma(z), J_i = sigma'(z) J_i, l = sigma'(z) l + sigma''(z) sum_i J_i^2 (before scaling) for each
    /// of the <paramref name="batch"/> points with <paramref name="d"/> directions of width <paramref name="w"/>.
    /// </summary>
    public static void Activate<T>(TaylorActivation act, int batch, int d, int w, Span<T> h, Span<T> dirs, Span<T> lap) where T : IFloatingPointIeee754<T>
    {
        if (act == TaylorActivation.Identity) return;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < w; c++)
            {
                var (s, s1, s2) = Derivatives(act, h[b * w + c]);
                T sq = T.Zero;
                for (int i = 0; i < d; i++)
                {
                    long idx = ((long)b * d + i) * w + c;
                    T v = dirs[(int)idx];
                    sq += v * v;
                    dirs[(int)idx] = s1 * v;
                }
                h[b * w + c] = s;
                lap[b * w + c] = s1 * lap[b * w + c] + s2 * sq;
            }
    }
}

/// <summary>Plain C# dense kernels: the oracle's GEMM and Cholesky.</summary>
public static class ManagedDense
{
    /// <summary>C = alpha op(A) op(B) + beta C, row-major, accumulated in the element type in index order (deterministic).</summary>
    public static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T s = T.Zero;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = alpha * s + (beta == T.Zero ? T.Zero : beta * c[i * n + j]);
            }
    }

    /// <summary>In-place lower Cholesky (row-major; the strict upper triangle is not read); 0 or the failing minor's order.</summary>
    public static int Cholesky<T>(int n, Span<T> a) where T : IFloatingPointIeee754<T>
    {
        for (int j = 0; j < n; j++)
        {
            T s = a[j * n + j];
            for (int p = 0; p < j; p++) s -= a[j * n + p] * a[j * n + p];
            if (!(s > T.Zero) || !T.IsFinite(s)) return j + 1;
            T d = T.Sqrt(s);
            a[j * n + j] = d;
            for (int i = j + 1; i < n; i++)
            {
                T t = a[i * n + j];
                for (int p = 0; p < j; p++) t -= a[i * n + p] * a[j * n + p];
                a[i * n + j] = t / d;
            }
        }
        return 0;
    }

    /// <summary>Solves L L^T x = b in place.</summary>
    public static void CholeskySolve<T>(int n, ReadOnlySpan<T> l, Span<T> b) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < n; i++)
        {
            T s = b[i];
            for (int p = 0; p < i; p++) s -= l[i * n + p] * b[p];
            b[i] = s / l[i * n + i];
        }
        for (int i = n - 1; i >= 0; i--)
        {
            T s = b[i];
            for (int p = i + 1; p < n; p++) s -= l[p * n + i] * b[p];
            b[i] = s / l[i * n + i];
        }
    }
}

/// <summary>Plain C#: the oracle every other backend is tested against, and the fallback without the native library.</summary>
public sealed class ManagedKernelBackend : HostKernelBackend
{
    /// <inheritdoc />
    public override string Name => "managed";
    /// <inheritdoc />
    protected override void GemmCore<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        => ManagedDense.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
    /// <inheritdoc />
    protected override int CholeskyCore<T>(int n, Span<T> a) => ManagedDense.Cholesky(n, a);
}

/// <summary>OpenBLAS GEMM/SYRK and LAPACK Cholesky: the CPU default.</summary>
public sealed class NativeKernelBackend : HostKernelBackend
{
    /// <inheritdoc />
    public override string Name => "native";
    /// <inheritdoc />
    protected override void GemmCore<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        => Native.Blas.Gemm(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);

    /// <inheritdoc />
    protected override void SyrkCore<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor)
    {
        if (d == 0) return;
        Native.Blas.Syrk(true, d, n, scale, rows, d, beta, factor, d);
        // SYRK writes the upper triangle; mirror it so the result is the full symmetric matrix (blocked: a column walk
        // of a 2048-wide factor conflicts in L1, see SquareMatrix).
        unsafe { fixed (T* p = factor) SquareMatrix.MirrorUpper(p, d); }
    }

    /// <inheritdoc />
    protected override void SyrkUpperCore<T>(int n, int d, T scale, ReadOnlySpan<T> rows, bool columns, T beta, Span<T> factor)
    {
        if (d == 0) return;
        Native.Blas.Syrk(!columns, d, n, scale, rows, Math.Max(columns ? n : d, 1), beta, factor, d);
    }

    /// <inheritdoc />
    protected override int CholeskyCore<T>(int n, Span<T> a) => Native.Lapack.TryCholesky(n, a);

    /// <inheritdoc />
    protected override void CholeskySolveCore<T>(int n, ReadOnlySpan<T> l, Span<T> b) => Native.Lapack.CholeskySolve(n, 1, l, b);

    /// <summary>True when OpenBLAS loads in this process; otherwise the reason.</summary>
    public static bool IsAvailable(out string reason)
    {
        try { Span<double> c = stackalloc double[1]; Native.Blas.Gemm<double>(false, false, 1, 1, 1, 1, [1d], 1, [1d], 1, 0, c, 1); reason = ""; return true; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException) { reason = $"OpenBLAS could not be loaded: {e.Message}"; return false; }
    }
}
