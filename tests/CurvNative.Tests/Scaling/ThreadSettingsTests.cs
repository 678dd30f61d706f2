using CurvNative.Autodiff;
using CurvNative.Native;
using CurvNative.NN.Losses;
using CurvNative.NN.Training;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using CurvNative.Tests.Curvature;
using CurvNative.Threading;
using Xunit;

namespace CurvNative.Tests.Scaling;

/// <summary>The thread count is process-wide: these tests run alone, after the parallel ones.</summary>
[CollectionDefinition("ThreadSettings", DisableParallelization = true)]
public sealed class ThreadSettingsCollection;

/// <summary>
/// The one thread knob (<see cref="ThreadSettings"/>) and the parallel work under it: the count reaches OpenBLAS and
/// the kernels' pool, serial sections hold BLAS at one thread, pieces really run concurrently, and results over
/// several mini-batches are the same bits for one and for two threads.
/// </summary>
[Collection("ThreadSettings")]
public class ThreadSettingsTests : IDisposable
{
    public void Dispose() => ThreadSettings.Set(ThreadSettings.DefaultCount);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(ThreadSettings.MaxCount + 1)]
    public void SetRejectsCountsOutsideTheRange(int threads)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ThreadSettings.Set(threads));
        Assert.Contains(threads.ToString(), e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void SetSizesOpenBlasTheKernelsAndManagedWorkTogether(int threads)
    {
        ThreadSettings.Set(threads);
        Assert.Equal(threads, ThreadSettings.Count);
        Assert.Equal(threads, NativeThreads.Kernels);
        Assert.Equal(threads, NativeThreads.Blas);
    }

    [Fact]
    public void SerialSectionHoldsOpenBlasAtOneThreadAndACountSetMeanwhileTakesEffectAfterwards()
    {
        ThreadSettings.Set(2);
        using (NativeThreads.EnterSerial())
        {
            Assert.Equal(1, NativeThreads.Blas);
            ThreadSettings.Set(3);
            Assert.Equal(1, NativeThreads.Blas);
        }
        Assert.Equal(3, NativeThreads.Blas);
    }

    [Fact]
    public void MapRunsPiecesConcurrentlyWithTwoThreads()
    {
        ThreadSettings.Set(2);
        // Each piece waits for the other: run one after the other, the first would time out.
        using var barrier = new Barrier(2);
        var met = ParallelWork.Map(2, _ => barrier.SignalAndWait(TimeSpan.FromSeconds(60)));
        Assert.All(met, Assert.True);
    }

    [Fact]
    public void MapInsideMapRunsOnItsCallersThread()
    {
        ThreadSettings.Set(2);
        var inner = ParallelWork.Map(2, _ => ParallelWork.Map(3, _ => Environment.CurrentManagedThreadId).Distinct().Count());
        Assert.All(inner, n => Assert.Equal(1, n));
    }

    [Fact]
    public void MapRethrowsTheFirstFailureByIndexWithItsType()
    {
        ThreadSettings.Set(2);
        var e = Assert.Throws<InvalidOperationException>(() => ParallelWork.Map<int>(4, i => i >= 1 ? throw new InvalidOperationException($"piece {i}") : i));
        Assert.Equal("piece 1", e.Message);
    }

    [Fact]
    public void MapKeepsTheCallersGradientMode()
    {
        ThreadSettings.Set(2);
        using var _ = GradMode.Disable();
        Assert.All(ParallelWork.Map(4, _ => GradMode.IsEnabled), Assert.False);
    }

    public static TheoryData<string, CurvatureKind> Products()
    {
        var data = new TheoryData<string, CurvatureKind>();
        foreach (var model in new[] { "mlp", "cnn" })
            foreach (var kind in Enum.GetValues<CurvatureKind>())
                data.Add(model, kind);
        return data;
    }

    /// <summary>N = 7 in batches of 2: four batches, two waves of two workers with two threads; the batch products
    /// are added in batch order either way.</summary>
    [Theory]
    [MemberData(nameof(Products))]
    public void ProductsOverSeveralBatchesAreTheSameBitsForOneAndTwoThreads(string model, CurvatureKind kind)
    {
        var p = Problem.Create(model, "ce", Reduction.Mean);
        var request = new CurvatureRequest { Kind = kind, BatchSize = 2, McSamples = 2, Seed = 5, FisherType = FisherType.MonteCarlo };
        double[] With(int threads)
        {
            ThreadSettings.Set(threads);
            var op = request.Build(p.Model, p.Loss, p.Data);
            var v = Problem.Rand(new Random(3), [op.Columns, 3]);
            return op.MatMat(v).ToArray();
        }
        var one = With(1);
        var two = With(2);
        Assert.Equal(one, two);
        Assert.Contains(one, x => x != 0);
    }

    /// <summary>One batch, 40 columns: three chunks of at most 16 columns, two at a time with two threads.</summary>
    [Theory]
    [InlineData("mlp", CurvatureKind.Ggn)]
    [InlineData("cnn", CurvatureKind.Hessian)]
    public void ColumnChunksOfOneBatchAreTheSameBitsForOneAndTwoThreads(string model, CurvatureKind kind)
    {
        var p = Problem.Create(model, "ce", Reduction.Sum);
        double[] With(int threads)
        {
            ThreadSettings.Set(threads);
            var op = new CurvatureRequest { Kind = kind }.Build(p.Model, p.Loss, p.Data);
            return op.MatMat(Problem.Rand(new Random(4), [op.Columns, 40])).ToArray();
        }
        var one = With(1);
        Assert.Equal(one, With(2));
        Assert.Contains(one, x => x != 0);
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void GradientAndLossOverSeveralBatchesAreTheSameBitsForOneAndTwoThreads(string model)
    {
        var p = Problem.Create(model, "mse", Reduction.Mean);
        (double Loss, double[] Gradient) With(int threads)
        {
            ThreadSettings.Set(threads);
            var (loss, gradient) = new DataSetObjective<double>(p.Model, p.Loss, p.Data, batchSize: 2).LossAndGradient();
            return (loss, gradient.ToArray());
        }
        var one = With(1);
        var two = With(2);
        Assert.Equal(one.Loss, two.Loss);
        Assert.Equal(one.Gradient, two.Gradient);
        // And the same value as one batch, up to rounding.
        var whole = new DataSetObjective<double>(p.Model, p.Loss, p.Data).LossAndGradient();
        Assert.Equal(whole.Loss, one.Loss, 1e-12);
        Assert.True(CliRelative(one.Gradient, whole.Gradient.ToArray()) < 1e-12);
    }

    private static double CliRelative(double[] a, double[] b) => Cli.CliRunner.RelativeError(a, b);
}
