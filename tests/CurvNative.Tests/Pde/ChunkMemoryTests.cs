using CurvNative.Diagnostics;
using CurvNative.Pde;
using CurvNative.Tests.Diagnostics;
using Xunit;
using static CurvNative.Tests.Taylor.PdeTestNets;

namespace CurvNative.Tests.Taylor;

/// <summary>Streaming evaluation: the peak memory of a chunked evaluation is that of one chunk, whatever N. Measured
/// with one thread, as the other heap measurements: with T threads up to about 3T chunks are in flight at once
/// (ParallelWork's window), a bound that does not grow with N either.</summary>
[Collection(nameof(HeapMeasurements))]
public sealed class ChunkMemoryTests : IDisposable
{
    private readonly int _threads = CurvNative.Threading.ThreadSettings.Count;

    public ChunkMemoryTests() => CurvNative.Threading.ThreadSettings.Set(1);

    public void Dispose() => CurvNative.Threading.ThreadSettings.Set(_threads);

    [Fact]
    public void ChunkedEvaluationMemoryDoesNotGrowWithThePointCount()
    {
        var model = Mlp<double>(4, "tanh", hidden: 64, seed: 3);
        var op = PdeOperator<double>.Laplacian(4);
        // Chunks of 128 points: the traced values [128, 64] are large enough for a tensor pool to track.
        var few = Points<double>(128, 4, seed: 1);
        var many = Points<double>(1280, 4, seed: 2);
        long Peak(CurvNative.Tensors.Tensor<double> x) => PeakMemory.Measure(() => PdeOps.Evaluate(model, x, op, batchSize: 128), 3);
        long small = Peak(few), large = Peak(many);
        // Ten times the points: the same per-chunk working set plus the 1,152 more result values.
        Assert.True(large <= small * 3 / 2 + 1280 * sizeof(double), $"peak {large} bytes for 1280 points vs {small} for 128 (chunks of 128)");
    }
}
