using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CurvNative.Tensors;

/// <summary>
/// Float kernels faster than TensorPrimitives where it matters. TensorPrimitives.Tanh for float evaluates
/// exp in double precision (about 2 ns per element here, half the non-GEMM time of the MLP gradient);
/// these stay in float with Cephes' tanhf/expf approximations (within 2 ulp of the correctly rounded
/// result; `dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- check` sweeps 69 million floats).
/// </summary>
internal static class FastMath
{
    /// <summary>d[i] = tanh(s[i]); NaN propagates, tanh(+-inf) = +-1, tanh(-0) = -0.</summary>
    // Optimized from the first call: tier-0 code of these vector helpers is ~10x slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tanh(ReadOnlySpan<float> s, Span<float> d)
    {
        int i = 0;
        for (; i <= s.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            Tanh(Vector256.Create(s[i..])).CopyTo(d[i..]);
        if (i < s.Length)
        {
            // Tail through a padded vector, so every element gets the same approximation.
            Span<float> tmp = stackalloc float[Vector256<float>.Count];
            s[i..].CopyTo(tmp);
            var r = Tanh(Vector256.Create((ReadOnlySpan<float>)tmp));
            for (int j = 0; i < s.Length; i++, j++) d[i] = r[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Tanh(Vector256<float> x)
    {
        var ax = Vector256.Abs(x);
        // |x| < 0.625: odd polynomial x + x^3 P(x^2) (Cephes tanhf).
        var z = x * x;
        var p = Vector256.MultiplyAddEstimate(Vector256.Create(-5.70498872745e-3f), z, Vector256.Create(2.06390887954e-2f));
        p = Vector256.MultiplyAddEstimate(p, z, Vector256.Create(-5.37397155531e-2f));
        p = Vector256.MultiplyAddEstimate(p, z, Vector256.Create(1.33314422036e-1f));
        p = Vector256.MultiplyAddEstimate(p, z, Vector256.Create(-3.33332819422e-1f));
        var small = Vector256.MultiplyAddEstimate(p * z, x, x);
        // Otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x; |x| is capped at 10, beyond which tanh rounds to 1.
        var e = Exp(Vector256.Min(ax, Vector256.Create(10f)) * Vector256.Create(2f));
        var large = Vector256.Create(1f) - Vector256.Create(2f) / (e + Vector256.Create(1f));
        large = Vector256.ConditionalSelect(Vector256.Create(-0f), x, large); // copy the sign bit of x
        var r = Vector256.ConditionalSelect(Vector256.LessThan(ax, Vector256.Create(0.625f)), small, large);
        // tanh(x) rounds to x below 2^-12 (x^2/3 < 2^-25); returning x also keeps -0 and NaN.
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(ax, Vector256.Create(1f / 4096)), r, x);
    }

    /// <summary>e^x for x in [0, 20] (Cephes expf: x = n ln 2 + r, |r| &lt;= ln2/2, degree-6 polynomial).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exp(Vector256<float> x)
    {
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        var r = Vector256.MultiplyAddEstimate(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.MultiplyAddEstimate(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.MultiplyAddEstimate(Vector256.Create(1.9875691500e-4f), r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(5.0000001201e-1f));
        var y = Vector256.MultiplyAddEstimate(p, r * r, r) + Vector256.Create(1f);
        // Scale by 2^n through the exponent bits (n <= 29 here, no overflow).
        var scale = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return y * scale.AsSingle();
    }
}
