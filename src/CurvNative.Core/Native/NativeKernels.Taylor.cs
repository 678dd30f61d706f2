using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>The activations the fused Taylor kernel supports (the values of kernels/include/curvnative.h's CN_ACT_*).</summary>
internal enum TaylorActivation { Tanh = 0, Sigmoid = 1, Sin = 2, Cos = 3, Exp = 4 }

internal static unsafe partial class NativeKernels
{
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_forward_f32")]
    private static partial int Taylor2ForwardF32(int activation, long n, long r, int hasC2, float* z, float* y, float* p, float* w, float* q);
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_forward_f64")]
    private static partial int Taylor2ForwardF64(int activation, long n, long r, int hasC2, double* z, double* y, double* p, double* w, double* q);
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_backward_f32")]
    private static partial int Taylor2BackwardF32(int activation, long n, long r, int hasC2, float* z, float* y, float* p, float* w, float* g, float* dz, float* dp);
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_backward_f64")]
    private static partial int Taylor2BackwardF64(int activation, long n, long r, int hasC2, double* z, double* y, double* p, double* w, double* g, double* dz, double* dp);

    /// <summary>
    /// The collapsed second-order Taylor rule of y = f(z) on the packed layout p = [z_1 (R rows); c_2 (one row when
    /// <paramref name="hasC2"/>)] of n = z.Length values per row: q[k] = f'(z) p[k] for k &lt; R and
    /// q[R] = f'(z) c_2 + f''(z) sum_k w_k p[k]^2 (q is [R + 1, n]). <paramref name="y"/> is f(z); empty
    /// <paramref name="weights"/> are ones.
    /// </summary>
    public static void Taylor2Forward<T>(TaylorActivation activation, int r, bool hasC2, ReadOnlySpan<T> z, ReadOnlySpan<T> y,
        ReadOnlySpan<T> p, ReadOnlySpan<T> weights, Span<T> q) where T : unmanaged
    {
        int n = z.Length;
        CheckTaylor2(r, hasC2, n, y, p, weights);
        SpanChecks.Length(q.Length, (long)(r + 1) * n, nameof(q), "(R+1)*n");
        SpanChecks.NoOverlap<T>(q, nameof(q), z, nameof(z), y, nameof(y));
        SpanChecks.NoOverlap<T>(q, nameof(q), p, nameof(p), weights, nameof(weights));
        fixed (T* pz = z) fixed (T* py = y) fixed (T* pp = p) fixed (T* pw = weights) fixed (T* pq = q)
        {
            T* w = weights.IsEmpty ? null : pw;
            if (typeof(T) == typeof(float))
                Check(Taylor2ForwardF32((int)activation, n, r, hasC2 ? 1 : 0, (float*)pz, (float*)py, (float*)pp, (float*)w, (float*)pq), "cn_taylor2_forward_f32");
            else if (typeof(T) == typeof(double))
                Check(Taylor2ForwardF64((int)activation, n, r, hasC2 ? 1 : 0, (double*)pz, (double*)py, (double*)pp, (double*)w, (double*)pq), "cn_taylor2_forward_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>
    /// The backward of <see cref="Taylor2Forward{T}"/> given g = dL/dq [R + 1, n]: dp[k] = f'(z) g[k] + 2 w_k f''(z) p[k] g[R]
    /// (k &lt; R), dp[R] = f'(z) g[R] (when <paramref name="hasC2"/>), dz = f''(z) (sum_k g[k] p[k] + g[R] c_2) + f'''(z) g[R] S.
    /// An empty <paramref name="dz"/> or <paramref name="dp"/> is not computed.
    /// </summary>
    public static void Taylor2Backward<T>(TaylorActivation activation, int r, bool hasC2, ReadOnlySpan<T> z, ReadOnlySpan<T> y,
        ReadOnlySpan<T> p, ReadOnlySpan<T> weights, ReadOnlySpan<T> g, Span<T> dz, Span<T> dp) where T : unmanaged
    {
        int n = z.Length;
        CheckTaylor2(r, hasC2, n, y, p, weights);
        SpanChecks.Length(g.Length, (long)(r + 1) * n, nameof(g), "(R+1)*n");
        if (!dz.IsEmpty) SpanChecks.Length(dz.Length, n, nameof(dz), "n");
        if (!dp.IsEmpty) SpanChecks.Length(dp.Length, p.Length, nameof(dp), "(R+hasC2)*n");
        SpanChecks.NoOverlap<T>(dz, nameof(dz), z, nameof(z), y, nameof(y));
        SpanChecks.NoOverlap<T>(dz, nameof(dz), p, nameof(p), g, nameof(g));
        SpanChecks.NoOverlap<T>(dp, nameof(dp), z, nameof(z), y, nameof(y));
        SpanChecks.NoOverlap<T>(dp, nameof(dp), p, nameof(p), g, nameof(g));
        SpanChecks.NoOverlap<T>(dp, nameof(dp), dz, nameof(dz), weights, nameof(weights));
        fixed (T* pz = z) fixed (T* py = y) fixed (T* pp = p) fixed (T* pw = weights) fixed (T* pg = g) fixed (T* pdz = dz) fixed (T* pdp = dp)
        {
            T* w = weights.IsEmpty ? null : pw, oz = dz.IsEmpty ? null : pdz, op = dp.IsEmpty ? null : pdp;
            if (typeof(T) == typeof(float))
                Check(Taylor2BackwardF32((int)activation, n, r, hasC2 ? 1 : 0, (float*)pz, (float*)py, (float*)pp, (float*)w, (float*)pg, (float*)oz, (float*)op), "cn_taylor2_backward_f32");
            else if (typeof(T) == typeof(double))
                Check(Taylor2BackwardF64((int)activation, n, r, hasC2 ? 1 : 0, (double*)pz, (double*)py, (double*)pp, (double*)w, (double*)pg, (double*)oz, (double*)op), "cn_taylor2_backward_f64");
            else throw Unsupported<T>();
        }
    }

    private static void CheckTaylor2<T>(int r, bool hasC2, int n, ReadOnlySpan<T> y, ReadOnlySpan<T> p, ReadOnlySpan<T> weights)
    {
        if (r < 0) throw new ArgumentOutOfRangeException(nameof(r), $"The number of directions must be >= 0, got {r}.");
        SpanChecks.Length(y.Length, n, nameof(y), "n");
        SpanChecks.Length(p.Length, (long)(r + (hasC2 ? 1 : 0)) * n, nameof(p), "(R+hasC2)*n");
        if (!weights.IsEmpty) SpanChecks.Length(weights.Length, r, nameof(weights), "R");
    }
}
