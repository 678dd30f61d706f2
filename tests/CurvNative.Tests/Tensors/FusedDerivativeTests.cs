using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

/// <summary>The fused derivative passes against the elementwise expressions they replace, bit for bit: stacks of
/// K = 1 and 3 items of awkward lengths (vector bodies and scalar tails), with either tangent absent.</summary>
public class FusedDerivativeTests
{
    private static Tensor<T> Random<T>(Random rng, params int[] shape) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = T.CreateTruncating(rng.NextDouble() * 4 - 2);
        return t;
    }

    /// <summary>y [n] broadcast over a stack [k, n] (the way the stacked rules apply a node's value to K items).</summary>
    private static Tensor<T> Over<T>(Tensor<T> y, int k) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => TensorOps.BroadcastTo(y, [k, y.Length]);

    private static void Check<T>(int n, int k, bool withG, bool withY) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(n * 31 + k);
        var g = Random<T>(rng, n); var y = TensorOps.Unary(Random<T>(rng, n), TensorOps.UnaryKind.Tanh);
        var tg = withG ? Random<T>(rng, k, n) : null;
        var ty = withY ? Random<T>(rng, k, n) : null;
        var fused = TensorOps.TanhBackwardTangent(tg, ty, g, y);
        // tg (1 - y^2) + ty ((g y) (-2)), as separate passes.
        Tensor<T>? a = tg is null ? null : TensorOps.TanhBackward(tg, y);
        Tensor<T>? b = ty is null ? null : TensorOps.Binary(ty, Over(TensorOps.Affine(TensorOps.Binary(g, y, TensorOps.BinaryKind.Multiply), -T.CreateTruncating(2), T.Zero), k), TensorOps.BinaryKind.Multiply);
        var expected = a is null ? b! : b is null ? a : TensorOps.Binary(a, b, TensorOps.BinaryKind.Add);
        Assert.Equal(expected.ShapeArray, fused.ShapeArray);
        for (int i = 0; i < fused.Length; i++)
            if (!fused.Span[i].Equals(expected.Span[i])) Assert.Fail($"n = {n}, k = {k}: element {i} is {fused.Span[i]}, expected {expected.Span[i]}.");
    }

    [Theory]
    [InlineData(0, 1)] [InlineData(1, 1)] [InlineData(17, 3)] [InlineData(1025, 1)] [InlineData(1025, 3)]
    public void TanhBackwardTangentIsTheUnfusedExpression(int n, int k)
    {
        foreach (var (withG, withY) in new[] { (true, true), (true, false), (false, true) })
        {
            Check<float>(n, k, withG, withY);
            Check<double>(n, k, withG, withY);
        }
    }

    [Fact]
    public void TanhBackwardTangentNeedsATangent()
        => Assert.Throws<ArgumentException>(() => TensorOps.TanhBackwardTangent<double>(null, null, Tensor<double>.Zeros(2), Tensor<double>.Zeros(2)));
}
