using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

/// <summary>The vectorised sin and cos against Math.Sin/Math.Cos (float: MathF) at sizes 0, 1, 17 and 1025.</summary>
public class SinCosKernelTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1025)]
    public void SinAndCosMatchTheScalarFunctions(int n)
    {
        var rng = new Random(n + 5);
        var xd = Tensor<double>.Zeros(n);
        for (int i = 0; i < n; i++) xd.Span[i] = 40 * (rng.NextDouble() - 0.5);
        var xf = Tensor<float>.Zeros(n);
        for (int i = 0; i < n; i++) xf.Span[i] = (float)xd.Span[i];

        var sin = TensorOps.Unary(xd, TensorOps.UnaryKind.Sin).Span;
        var cos = TensorOps.Unary(xd, TensorOps.UnaryKind.Cos).Span;
        var sinF = TensorOps.Unary(xf, TensorOps.UnaryKind.Sin).Span;
        var cosF = TensorOps.Unary(xf, TensorOps.UnaryKind.Cos).Span;
        Assert.Equal(n, sin.Length);
        for (int i = 0; i < n; i++)
        {
            double x = xd.Span[i];
            Assert.True(Math.Abs(sin[i] - Math.Sin(x)) <= 1e-15, $"sin({x:R}) = {sin[i]:R}");
            Assert.True(Math.Abs(cos[i] - Math.Cos(x)) <= 1e-15, $"cos({x:R}) = {cos[i]:R}");
            Assert.True(Math.Abs(sinF[i] - MathF.Sin(xf.Span[i])) <= 1e-6f, $"float sin({xf.Span[i]:R}) = {sinF[i]:R}");
            Assert.True(Math.Abs(cosF[i] - MathF.Cos(xf.Span[i])) <= 1e-6f, $"float cos({xf.Span[i]:R}) = {cosF[i]:R}");
        }
    }
}
