using System.Numerics;
using CurvNative.Kernels;
using CurvNative.NN.Losses;
using CurvNative.Operators;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Curvature.Problem;

namespace CurvNative.Tests.Curvature;

/// <summary>A managed backend that counts what goes through the seam: uploads, disposals of resident buffers, Kronecker
/// products and factor accumulations. Not a host backend, so operators upload to it as to a device.</summary>
internal sealed class CountingBackend : IKernelBackend
{
    private readonly ManagedKernelBackend _inner = new();
    public int Uploads, Disposed, Kronecker, Accumulations, Gemms;
    public string Name => "counting";
    public string DeviceName => "CPU (counting)";
    public TransferCounter Transfers { get; } = new();

    private sealed class Buffer<T>(KernelBuffer<T> inner, CountingBackend owner) : KernelBuffer<T> where T : unmanaged
    {
        public KernelBuffer<T> Inner => inner;
        public bool IsDisposed;
        public override long Length => inner.Length;
        public override void CopyTo(Span<T> destination) => inner.CopyTo(destination);
        public override void Dispose() { if (!IsDisposed) { IsDisposed = true; Interlocked.Increment(ref owner.Disposed); } }
    }

    private static KernelBuffer<T> Unwrap<T>(KernelBuffer<T> b) where T : unmanaged
        => b is Buffer<T> c ? (c.IsDisposed ? throw new ObjectDisposedException("buffer") : c.Inner) : throw new ArgumentException("Not this backend's buffer.");

    public KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Interlocked.Increment(ref Uploads);
        Transfers.Record(true, data.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return new Buffer<T>(_inner.Upload(data), this);
    }

    public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Interlocked.Increment(ref Gemms);
        _inner.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
    }

    public void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, ReadOnlySpan<T> v, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Interlocked.Increment(ref Kronecker);
        _inner.KroneckerMatmat(gDim, aDim, k, Unwrap(g), transG, Unwrap(a), transA, v, y);
    }

    public void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Interlocked.Increment(ref Accumulations);
        _inner.AccumulateFactor(n, d, scale, rows, beta, factor);
    }

    public int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => _inner.WoodburySolve(n, p, Unwrap(jacobian), lambda, g, x);

    public void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians) where T : unmanaged, IFloatingPointIeee754<T>
        => throw new NotSupportedException("The counting backend is for the curvature operators.");

    public void Dispose() { }
}

/// <summary>KFAC and EKFAC through the kernel seam: the same operator on every backend, factors resident once.</summary>
public class KfacBackendTests
{
    private static KfacOptions Options(bool separate, KfacApproximation approx, IKernelBackend backend)
        => new() { FisherType = FisherType.Type2, SeparateWeightAndBias = separate, Approximation = approx, Backend = backend, BatchSize = 3 };

    private static Tensor<double> Vector(int n, int seed)
    {
        var rng = new Random(seed);
        return Tensor<double>.FromArray(Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray(), n);
    }

    private static void Close(double expected, double actual, string what)
    {
        if (double.IsNegativeInfinity(expected) || double.IsNegativeInfinity(actual)) { Assert.Equal(expected, actual); return; }
        Assert.True(Math.Abs(expected - actual) <= 1e-10 * Math.Abs(expected), $"{what}: {actual:R} vs {expected:R}");
    }

    public static TheoryData<string, string, bool, KfacApproximation> Cases() => new()
    {
        { "mlp", "mse", true, KfacApproximation.Expand },
        { "mlp", "ce", false, KfacApproximation.Expand },
        { "cnn", "mse", true, KfacApproximation.Expand },
        { "cnn", "bce", false, KfacApproximation.Reduce },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ManagedAndNativeBackendsGiveTheSameKfacAndEkfac(string model, string loss, bool separate, KfacApproximation approx)
    {
        Assert.True(NativeKernelBackend.IsAvailable(out var why), why);
        var p = Create(model, loss, Reduction.Mean, n: 7);
        using var managed = new ManagedKernelBackend();
        using var native = new NativeKernelBackend();
        var v = Vector(p.P, 5);

        using var km = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, approx, managed));
        using var kn = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, approx, native));
        Assert.Same(managed, km.Backend);
        Assert.Same(native, kn.Backend);
        AssertRelative(km.MatVec(v), kn.MatVec(v), 1e-10, "KFAC matvec");
        Close(km.Trace(), kn.Trace(), "KFAC trace");
        Close(km.LogDeterminant(), kn.LogDeterminant(), "KFAC log-determinant");
        foreach (var mode in new[] { KfacDamping.Tikhonov, KfacDamping.Heuristic, KfacDamping.Exact })
            AssertRelative(km.Inverse(0.1, mode).MatVec(v), kn.Inverse(0.1, mode).MatVec(v), 1e-10, $"KFAC inverse ({mode}) matvec");

        using var em = new EkfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, approx, managed));
        using var en = new EkfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, approx, native));
        AssertRelative(em.MatVec(v), en.MatVec(v), 1e-10, "EKFAC matvec");
        Close(em.Trace(), en.Trace(), "EKFAC trace");
        Close(em.LogDeterminant(), en.LogDeterminant(), "EKFAC log-determinant");
        AssertRelative(em.Inverse(0.1).MatVec(v), en.Inverse(0.1).MatVec(v), 1e-10, "EKFAC inverse matvec");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EkfacTraceAndLogDeterminantAreThoseOfTheDenseOperator(bool separate)
    {
        var p = Create("mlp", "mse", Reduction.Mean, n: 9);
        using var ekfac = new EkfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, KfacApproximation.Expand, new ManagedKernelBackend()));
        var dense = ekfac.ToDense();
        double trace = 0;
        for (int i = 0; i < p.P; i++) trace += dense[i, i];
        Assert.Equal(trace, ekfac.Trace(), 1e-10 * Math.Abs(trace));
        double logdet = LogAbsDeterminant(dense);
        Assert.True(double.IsFinite(logdet));
        Assert.Equal(logdet, ekfac.LogDeterminant(), 1e-8 * Math.Abs(logdet));
        double frob = Math.Sqrt(dense.Span.ToArray().Sum(x => x * x));
        Assert.Equal(frob, ekfac.FrobeniusNorm(), 1e-10 * frob);
    }

    /// <summary>log |det| by LU with partial pivoting in double (small dense matrices only).</summary>
    private static double LogAbsDeterminant(Tensor<double> m)
    {
        int n = m.Shape[0];
        var a = m.Span.ToArray();
        double log = 0;
        for (int k = 0; k < n; k++)
        {
            int piv = k;
            for (int i = k + 1; i < n; i++) if (Math.Abs(a[i * n + k]) > Math.Abs(a[piv * n + k])) piv = i;
            if (piv != k) for (int j = 0; j < n; j++) (a[k * n + j], a[piv * n + j]) = (a[piv * n + j], a[k * n + j]);
            log += Math.Log(Math.Abs(a[k * n + k]));
            for (int i = k + 1; i < n; i++)
            {
                double f = a[i * n + k] / a[k * n + k];
                for (int j = k; j < n; j++) a[i * n + j] -= f * a[k * n + j];
            }
        }
        return log;
    }

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, 2)]
    public void FactorsAreUploadedOnceAndNotPerProduct(bool separate, int blocks)
    {
        var p = Create("mlp", "mse", Reduction.Mean, n: 7);
        var backend = new CountingBackend();
        var v = Vector(p.P, 2);
        var reference = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, KfacApproximation.Expand, new ManagedKernelBackend()));

        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, KfacApproximation.Expand, backend));
        // Two layers, each A and G summed over three batches through the seam.
        Assert.True(backend.Accumulations >= 2 * 2 * 3, $"{backend.Accumulations} factor accumulations");
        Assert.Equal(2 * blocks, backend.Uploads);
        for (int i = 0; i < 3; i++) AssertRelative(reference.MatVec(v), kfac.MatVec(v), 1e-12, "KFAC matvec on the counting backend");
        Assert.Equal(2 * blocks, backend.Uploads);
        Assert.Equal(3 * blocks, backend.Kronecker);
        Assert.Equal(0, backend.Disposed);

        var inverse = (KroneckerEigenbasis<double>)kfac.Inverse(0.1);
        Assert.Equal(4 * blocks, backend.Uploads);    // the inverse's eigenbases, once
        inverse.MatVec(v); inverse.MatVec(v);
        Assert.Equal(4 * blocks, backend.Uploads);
        Assert.Equal(3 * blocks + 2 * 2 * blocks, backend.Kronecker); // rotate in, rotate out
        inverse.Dispose();
        kfac.Dispose();
        kfac.Dispose(); // idempotent
        Assert.Equal(4 * blocks, backend.Disposed);
        Assert.Throws<ObjectDisposedException>(() => kfac.MatVec(v));

        var uploads = backend.Uploads;
        using (var ekfac = new EkfacOperator<double>(p.Model, p.Loss, p.Data, Options(separate, KfacApproximation.Expand, backend)))
        {
            Assert.Equal(uploads + 2 * blocks, backend.Uploads); // the eigenbases; the KFAC factors behind them are never uploaded
            int kron = backend.Kronecker;
            ekfac.MatVec(v); ekfac.MatVec(v);
            Assert.Equal(uploads + 2 * blocks, backend.Uploads);
            Assert.Equal(kron + 2 * 2 * blocks, backend.Kronecker);
        }
        Assert.Equal(uploads + 2 * blocks, backend.Disposed);
    }

    [Fact]
    public void TheDefaultBackendIsNativeWhenOpenBlasLoads()
    {
        Assert.True(NativeKernelBackend.IsAvailable(out _));
        Assert.IsType<NativeKernelBackend>(KernelBackends.Default);
        var p = Create("mlp", "mse", Reduction.Mean, n: 4);
        using var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2 });
        Assert.Same(KernelBackends.Default, kfac.Backend);
        Assert.Equal(4, kfac.Structure.Blocks.Count);
        Assert.All(kfac.Structure.Blocks, b => Assert.IsType<KroneckerOperator<double>>(b));
    }
}
