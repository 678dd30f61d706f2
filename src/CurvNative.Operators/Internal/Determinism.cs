using System.Numerics;

namespace CurvNative.Operators.Internal;

/// <summary>
/// The comparison behind the determinism checks of the curvature constructors (as curvlinops runs them): two
/// evaluations agree when their largest difference is at most 1e-6 of their largest magnitude. Not bit equality:
/// OpenBLAS's thread count is process-wide, and a serial section opened by another thread between the two
/// evaluations (a parallel region of a concurrent computation) changes how a threaded GEMM splits its work, which
/// for some shapes changes the last bits (measured: a 256 x 256 x 10 sgemm differs in 24 of 2,560 elements between
/// one and two threads). Dropout or an unseeded sampler differ by far more.
/// </summary>
internal static class Determinism
{
    public const double RelativeTolerance = 1e-6;

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> agree; the largest difference and magnitude.</summary>
    public static bool Agree<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, out double difference, out double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        difference = a.Length == b.Length ? 0 : double.PositiveInfinity;
        scale = 0;
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            double x = double.CreateTruncating(a[i]), y = double.CreateTruncating(b[i]);
            // NaN on either side is a difference (Max ignores NaN operands of its comparison otherwise).
            difference = Math.Max(difference, double.IsNaN(x) != double.IsNaN(y) ? double.PositiveInfinity : double.IsNaN(x) ? 0 : Math.Abs(x - y));
            scale = Math.Max(scale, double.IsNaN(x) ? 0 : Math.Abs(x));
        }
        return difference <= RelativeTolerance * Math.Max(scale, 1e-30);
    }
}
