using System.Numerics;

namespace CurvNative.Tensors;

/// <summary>Working-precision constants of an element type.</summary>
public static class Precision
{
    /// <summary>The machine epsilon of <typeparamref name="T"/>, the gap between 1 and the next number: 2^-23 for float,
    /// 2^-52 for double (not <c>T.Epsilon</c>, which is the smallest subnormal). Rank and rounding thresholds
    /// (n · ε · ‖A‖, as numpy.linalg.matrix_rank) are built from it.</summary>
    public static double Epsilon<T>() where T : IFloatingPointIeee754<T> => double.CreateTruncating(T.BitIncrement(T.One) - T.One);
}
