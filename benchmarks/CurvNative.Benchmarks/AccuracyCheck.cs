using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release -- check</c>: the float fast paths used by the benchmarked kernels against
/// double-precision references. Tanh (FastMath) must stay within 2 ulp of the correctly rounded tanh.
/// </summary>
internal static class AccuracyCheck
{
    public static int Run()
    {
        // Every 16th float bit pattern from 0 to 20 (about 68 million values) and their negatives,
        // plus the special values.
        const int chunk = 1 << 20;
        var x = new float[chunk];
        var y = new float[chunk];
        long count = 0, worstBits = 0;
        float worstX = 0;
        uint end = BitConverter.SingleToUInt32Bits(20f);
        for (uint start = 0; start < end;)
        {
            int n = 0;
            for (; n < chunk && start < end; n++, start += 16)
                x[n] = (n & 1) == 0 ? BitConverter.UInt32BitsToSingle(start) : -BitConverter.UInt32BitsToSingle(start);
            FastMath.Tanh(x.AsSpan(0, n), y.AsSpan(0, n));
            for (int i = 0; i < n; i++)
            {
                long ulps = Ulps(y[i], (float)Math.Tanh(x[i]));
                if (ulps > worstBits) { worstBits = ulps; worstX = x[i]; }
            }
            count += n;
        }
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 1e-30f, -1e-30f, float.Epsilon, 88f, -100f];
        var sy = new float[special.Length];
        FastMath.Tanh(special, sy);
        bool specialOk = float.IsNaN(sy[0]) && sy[1] == 1f && sy[2] == -1f && float.IsNegative(sy[3]) && sy[3] == 0f
                         && sy[4] == 0f && !float.IsNegative(sy[4]) && sy[5] == 1e-30f && sy[6] == -1e-30f && sy[7] == float.Epsilon
                         && sy[8] == 1f && sy[9] == -1f;
        Console.WriteLine($"FastMath.Tanh(float): {count:N0} values in [-20, 20], max error {worstBits} ulp (at x = {worstX:R}); special values {(specialOk ? "ok" : "WRONG")}");
        bool ok = worstBits <= 2 && specialOk;
        Console.WriteLine(ok ? "check passed" : "check FAILED");
        return ok ? 0 : 1;
    }

    private static long Ulps(float a, float b)
    {
        if (float.IsNaN(a) || float.IsNaN(b)) return float.IsNaN(a) && float.IsNaN(b) ? 0 : long.MaxValue;
        static long Key(float f) { int i = BitConverter.SingleToInt32Bits(f); return i < 0 ? int.MinValue - (long)i : i; }
        return Math.Abs(Key(a) - Key(b));
    }
}
