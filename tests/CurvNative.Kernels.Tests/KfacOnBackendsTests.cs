using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Operators;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Kernels.Tests;

/// <summary>
/// KFAC and EKFAC built on the ILGPU backend (CPU accelerator, a small MLP) against the managed oracle, and the counted
/// transfers: factors and eigenbases uploaded once at construction, each product moving only its vectors.
/// </summary>
public class KfacOnBackendsTests
{
    private static (Module<double> Model, Loss<double> Loss, DataSet<double> Data) Problem()
    {
        var rng = new Random(4);
        var model = new Sequential<double>(new Linear<double>("0", 3, 4, rng: rng), new Tanh<double>(), new Linear<double>("2", 4, 2, rng: rng));
        var x = Tensor<double>.FromArray(Enumerable.Range(0, 6 * 3).Select(_ => rng.NextDouble() * 2 - 1).ToArray(), 6, 3);
        var y = Tensor<double>.FromArray(Enumerable.Range(0, 6 * 2).Select(_ => rng.NextDouble()).ToArray(), 6, 2);
        return (model, new MSELoss<double>(), new DataSet<double>(x, Targets<double>.FromValues(y)));
    }

    private static void Close(Tensor<double> expected, Tensor<double> actual, string what) => Contract.Close<double>(expected.Span, actual.Span, what);

    private static void Close(double expected, double actual, string what)
        => Assert.True(expected == actual || Math.Abs(expected - actual) <= 1e-10 * Math.Abs(expected), $"{what}: {actual:R} vs {expected:R}");

    [BackendTheory("ilgpu")]
    [InlineData(true)]
    [InlineData(false)]
    public void KfacAndEkfacOnIlgpuMatchTheManagedOracle(bool separate)
    {
        var backend = Backends.Get("ilgpu").Backend!;
        var (model, loss, data) = Problem();
        KfacOptions Options(IKernelBackend b) => new() { FisherType = FisherType.Type2, SeparateWeightAndBias = separate, Backend = b };
        var rng = new Random(9);
        int blocks = separate ? 4 : 2;

        using var reference = new KfacOperator<double>(model, loss, data, Options(Backends.Oracle));
        var v = Tensor<double>.FromArray(Enumerable.Range(0, reference.Columns).Select(_ => rng.NextDouble() - 0.5).ToArray(), reference.Columns);
        using var kfac = new KfacOperator<double>(model, loss, data, Options(backend));
        long uploads = backend.Transfers.Uploads, bytes = backend.Transfers.UploadBytes;
        Close(reference.MatVec(v), kfac.MatVec(v), "KFAC matvec");
        // One product moved the vector in (block by block) and nothing else: the factors stayed on the device.
        Assert.Equal(uploads + blocks, backend.Transfers.Uploads);
        Assert.Equal(bytes + 8L * reference.Columns, backend.Transfers.UploadBytes);
        Close(reference.Trace(), kfac.Trace(), "KFAC trace");
        Close(reference.LogDeterminant(), kfac.LogDeterminant(), "KFAC log-determinant");
        foreach (var mode in new[] { KfacDamping.Tikhonov, KfacDamping.Exact })
        {
            using var ri = (KroneckerEigenbasis<double>)reference.Inverse(0.1, mode);
            using var ki = (KroneckerEigenbasis<double>)kfac.Inverse(0.1, mode);
            Close(ri.MatVec(v), ki.MatVec(v), $"KFAC inverse ({mode}) matvec");
        }

        using var ereference = new EkfacOperator<double>(model, loss, data, Options(Backends.Oracle));
        using var ekfac = new EkfacOperator<double>(model, loss, data, Options(backend));
        uploads = backend.Transfers.Uploads; bytes = backend.Transfers.UploadBytes;
        Close(ereference.MatVec(v), ekfac.MatVec(v), "EKFAC matvec");
        Assert.Equal(uploads + 2 * blocks, backend.Transfers.Uploads); // into the eigenbasis and back: two vectors per block
        Assert.Equal(bytes + 2 * 8L * reference.Columns, backend.Transfers.UploadBytes);
        Close(ereference.Trace(), ekfac.Trace(), "EKFAC trace");
        Close(ereference.LogDeterminant(), ekfac.LogDeterminant(), "EKFAC log-determinant");
        using var einv = (KroneckerEigenbasis<double>)ekfac.Inverse(0.1);
        Close(((KroneckerEigenbasis<double>)ereference.Inverse(0.1)).MatVec(v), einv.MatVec(v), "EKFAC inverse matvec");
    }
}
