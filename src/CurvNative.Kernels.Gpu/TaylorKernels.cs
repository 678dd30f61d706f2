using ILGPU;

namespace CurvNative.Kernels.Gpu;

/// <summary>
/// Family 4, the elementwise half of the collapsed forward-Laplacian sweep (the linear half is
/// <see cref="GemmKernels.Gemm{T, TOps, TTile}"/> on [value; directions; coefficient]). One thread per (point, unit):
/// h = sigma(z), J_i = sigma'(z) J_i for the D directions, l = sigma'(z) l + sigma''(z) sum_i J_i^2.
/// </summary>
public static class TaylorKernels
{
    /// <summary>Activation rule; index over batch * width.</summary>
    public static void Activate<T, TOps>(Index1D idx, ArrayView<T> h, ArrayView<T> dirs, ArrayView<T> lap, int d, int w, int act)
        where T : unmanaged where TOps : struct, INumOps<T>
    {
        var ops = default(TOps);
        int b = idx / w, c = idx % w;
        ops.Activation(act, h[idx], out T s, out T s1, out T s2);
        T sq = ops.Zero;
        for (int i = 0; i < d; i++)
        {
            long k = ((long)b * d + i) * w + c;
            T v = dirs[k];
            sq = ops.Add(sq, ops.Mul(v, v));
            dirs[k] = ops.Mul(s1, v);
        }
        h[idx] = s;
        lap[idx] = ops.Add(ops.Mul(s1, lap[idx]), ops.Mul(s2, sq));
    }

    /// <summary>Broadcast of the bias: h[b, c] = bias[c]; index over batch * width.</summary>
    public static void Broadcast<T>(Index1D idx, ArrayView<T> h, ArrayView<T> bias, int w) where T : unmanaged
        => h[idx] = bias[idx % w];

    /// <summary>The seed directions: J[(b, i), j] = [i == j]; index over batch * D * D.</summary>
    public static void Identity<T, TOps>(Index1D idx, ArrayView<T> dirs, int d, T one) where T : unmanaged where TOps : struct, INumOps<T>
    {
        int i = (idx / d) % d, j = idx % d;
        dirs[idx] = i == j ? one : default(TOps).Zero;
    }
}
