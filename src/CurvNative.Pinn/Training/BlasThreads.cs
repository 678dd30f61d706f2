namespace CurvNative.Pinn.Training;

/// <summary>The number of threads OpenBLAS uses for the GEMM, SYRK and Cholesky calls of training.</summary>
public static class BlasThreads
{
    /// <summary>Gets or sets OpenBLAS's thread count (openblas_set_num_threads; takes effect for the following calls).</summary>
    public static int Count
    {
        get => Native.Blas.Threads;
        set => Native.Blas.Threads = value;
    }
}
