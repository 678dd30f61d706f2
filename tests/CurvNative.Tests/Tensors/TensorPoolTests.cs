using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

public class TensorPoolTests
{
    [Fact]
    public void ReturnedBuffersAreReusedAndZerosAreZero()
    {
        using var pool = TensorPool<float>.Enter(minLength: 1);
        var a = Tensor<float>.Full(3f, 17);
        pool.Return(a);
        pool.Return(a); // twice is harmless: handed out once
        var b = Tensor<float>.Zeros(17);
        var c = Tensor<float>.Zeros(17);
        Assert.Same(a.Buffer, b.Buffer);
        Assert.NotSame(b.Buffer, c.Buffer);
        Assert.All(b.Span.ToArray(), x => Assert.Equal(0f, x));
    }

    /// <summary>A shorter request takes the shortest returned buffer that is at most twice as long, and its tensor
    /// covers only the requested elements (zeroed there); nothing over twice as long is handed out.</summary>
    [Fact]
    public void ShorterRequestsTakeTheShortestBufferUpToTwiceTheirLength()
    {
        using var pool = TensorPool<float>.Enter(minLength: 1);
        var five = Tensor<float>.Full(3f, 5, 100);
        var six = Tensor<float>.Full(3f, 6, 100);
        var nine = Tensor<float>.Full(3f, 9, 100);
        foreach (var t in new[] { nine, six, five }) pool.Return(t);
        var four = Tensor<float>.Zeros(4, 100);
        Assert.Same(five.Buffer, four.Buffer);
        Assert.Equal(400, four.Span.Length);
        Assert.All(four.Span.ToArray(), x => Assert.Equal(0f, x));
        Assert.Equal(3f, five.Buffer[450]); // past the tensor: untouched
        Assert.Same(six.Buffer, Tensor<float>.Uninitialized(4, 100).Buffer);
        Assert.NotSame(nine.Buffer, Tensor<float>.Uninitialized(4, 100).Buffer); // 900 > 2 x 400
        Assert.Same(nine.Buffer, Tensor<float>.Uninitialized(9, 100).Buffer);
    }

    [Fact]
    public void BuffersBornOutsideTheScopeOrTooSmallAreNeverReused()
    {
        var outside = Tensor<double>.Zeros(1025);
        using var pool = TensorPool<double>.Enter(minLength: 1024);
        var small = Tensor<double>.Zeros(17);
        pool.Return(outside);
        pool.Return(small);
        Assert.NotSame(outside.Buffer, Tensor<double>.Zeros(1025).Buffer);
        Assert.NotSame(small.Buffer, Tensor<double>.Zeros(17).Buffer);
    }

    [Fact]
    public void ScopesNestAndCloseInnermostFirst()
    {
        using var outer = TensorPool<float>.Enter(minLength: 1);
        var inner = TensorPool<float>.Enter(minLength: 1);
        Assert.Same(inner, TensorPool<float>.Current);
        Assert.Throws<InvalidOperationException>(outer.Dispose);
        inner.Dispose();
        Assert.Same(outer, TensorPool<float>.Current);
        var t = Tensor<float>.Zeros(0);
        outer.Return(t); // empty buffers are fine too
    }
}
