using ILGPU;

namespace CurvNative.Kernels.Gpu;

/// <summary>
/// Family 3 on the device: the kernel J J^T is the tiled GEMM; this adds the damping to its diagonal. The
/// Cholesky factorisation runs on the host (LAPACK) on the downloaded N x N kernel.
/// </summary>
public static class WoodburyKernels
{
    /// <summary>K[i, i] += lambda; index over n.</summary>
    public static void AddDiagonal<T, TOps>(Index1D i, ArrayView<T> k, int n, T lambda) where T : unmanaged where TOps : struct, INumOps<T>
    {
        long at = (long)i.X * n + i.X;
        k[at] = default(TOps).Add(k[at], lambda);
    }
}
