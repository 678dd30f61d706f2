using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>The activations the fused Taylor kernel supports (the values of kernels/include/curvnative.h's CN_ACT_*).</summary>
internal enum TaylorActivation { Tanh = 0, Sigmoid = 1, Sin = 2, Cos = 3, Exp = 4 }

internal static unsafe partial class NativeKernels
{
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_activation_f32")]
    private static partial int Taylor2F32(int activation, long n, long r, float* z, float* dirs, float* c2, float* weights, float* y, float* dirsOut, float* c2Out);
    [LibraryImport(Lib, EntryPoint = "cn_taylor2_activation_f64")]
    private static partial int Taylor2F64(int activation, long n, long r, double* z, double* dirs, double* c2, double* weights, double* y, double* dirsOut, double* c2Out);

    /// <summary>
    /// The collapsed second-order Taylor rule of y = f(z), fused: y = f(z), dirsOut[r, i] = f'(z_i) dirs[r, i],
    /// c2Out[i] = f'(z_i) c2[i] + f''(z_i) sum_r w_r dirs[r, i]^2 for n = z.Length values and R = dirs.Length / n
    /// directions. An empty <paramref name="c2"/> is zero, empty <paramref name="weights"/> are ones, an empty
    /// <paramref name="y"/> skips the value.
    /// </summary>
    public static void Taylor2Activation<T>(TaylorActivation activation, ReadOnlySpan<T> z, ReadOnlySpan<T> dirs, ReadOnlySpan<T> c2,
        ReadOnlySpan<T> weights, Span<T> y, Span<T> dirsOut, Span<T> c2Out) where T : unmanaged
    {
        int n = z.Length;
        int r = n == 0 ? (weights.IsEmpty ? 0 : weights.Length) : dirs.Length / n;
        if (n > 0 && dirs.Length != (long)r * n)
            throw new ArgumentException($"dirs has {dirs.Length} elements, not a multiple R x n of the {n} values.", nameof(dirs));
        SpanChecks.Length(dirsOut.Length, dirs.Length, nameof(dirsOut), "R*n");
        SpanChecks.Length(c2Out.Length, n, nameof(c2Out), "n");
        if (!c2.IsEmpty) SpanChecks.Length(c2.Length, n, nameof(c2), "n");
        if (!y.IsEmpty) SpanChecks.Length(y.Length, n, nameof(y), "n");
        if (!weights.IsEmpty && n > 0) SpanChecks.Length(weights.Length, r, nameof(weights), "R");
        SpanChecks.NoOverlap<T>(dirsOut, nameof(dirsOut), z, nameof(z), dirs, nameof(dirs));
        SpanChecks.NoOverlap<T>(c2Out, nameof(c2Out), z, nameof(z), dirs, nameof(dirs));
        SpanChecks.NoOverlap<T>(c2Out, nameof(c2Out), c2, nameof(c2), dirsOut, nameof(dirsOut));
        fixed (T* pz = z) fixed (T* pd = dirs) fixed (T* pc = c2) fixed (T* pw = weights) fixed (T* py = y) fixed (T* pdo = dirsOut) fixed (T* pco = c2Out)
        {
            T* c = c2.IsEmpty ? null : pc, w = weights.IsEmpty ? null : pw, yy = y.IsEmpty ? null : py;
            if (typeof(T) == typeof(float))
                Check(Taylor2F32((int)activation, n, r, (float*)pz, (float*)pd, (float*)c, (float*)w, (float*)yy, (float*)pdo, (float*)pco), "cn_taylor2_activation_f32");
            else if (typeof(T) == typeof(double))
                Check(Taylor2F64((int)activation, n, r, (double*)pz, (double*)pd, (double*)c, (double*)w, (double*)yy, (double*)pdo, (double*)pco), "cn_taylor2_activation_f64");
            else throw Unsupported<T>();
        }
    }
}
