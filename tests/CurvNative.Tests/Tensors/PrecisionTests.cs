using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

public class PrecisionTests
{
    [Fact]
    public void EpsilonIsTheGapAboveOne()
    {
        Assert.Equal(Math.ScaleB(1, -23), Precision.Epsilon<float>());
        Assert.Equal(Math.ScaleB(1, -52), Precision.Epsilon<double>());
        Assert.Equal(1 + Precision.Epsilon<double>(), Math.BitIncrement(1.0));
    }
}
