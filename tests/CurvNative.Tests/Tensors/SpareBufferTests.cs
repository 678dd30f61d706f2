using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

/// <summary>Spares are process-wide, so these tests run alone: a parallel test could take or trim them.</summary>
[Collection("HeapMeasurements")]
public class SpareBufferTests
{
    /// <summary>A closed scope's returned buffers serve the next scope on the thread (the next chunk, the next call);
    /// a buffer that was never returned never does.</summary>
    [Fact]
    public void AClosedScopesReturnedBuffersServeTheNextScopeOnTheThread()
    {
        float[] returned, kept;
        using (var first = TensorPool<float>.Enter(minLength: 1))
        {
            var a = Tensor<float>.Full(3f, 3001);
            var b = Tensor<float>.Full(3f, 3001);
            first.Return(a);
            (returned, kept) = (a.Buffer, b.Buffer);
        }
        using var second = TensorPool<float>.Enter(minLength: 1);
        var c = Tensor<float>.Zeros(3001);
        Assert.Same(returned, c.Buffer);
        Assert.All(c.Span.ToArray(), x => Assert.Equal(0f, x));
        Assert.NotSame(kept, Tensor<float>.Zeros(3001).Buffer);
        second.Return(c); // the spare now belongs to the second scope
        Assert.Same(returned, Tensor<float>.Uninitialized(3001).Buffer);
    }

    /// <summary>Spares unused for the trim's idle time are dropped, so a closed scope does not hold memory forever.</summary>
    [Fact]
    public void TrimDropsIdleSpares()
    {
        double[] buffer;
        using (var pool = TensorPool<double>.Enter(minLength: 1))
        {
            var t = Tensor<double>.Zeros(100_003);
            pool.Return(t);
            buffer = t.Buffer;
        }
        Assert.True(SpareBuffers<double>.Bytes >= 800_024);
        SpareBuffers<double>.Trim(TimeSpan.Zero);
        Assert.Equal(0, SpareBuffers<double>.Bytes);
        using var next = TensorPool<double>.Enter(minLength: 1);
        Assert.NotSame(buffer, Tensor<double>.Zeros(100_003).Buffer);
    }
}
