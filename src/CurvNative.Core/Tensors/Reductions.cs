using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CurvNative.Tensors;

/// <summary>
/// Reductions and updates whose rounding depends only on the values and the length, never on where the arrays
/// happen to lie in memory or on the JIT tier. TensorPrimitives' aggregations align their main loop to the
/// address of the input, so the association of a sum (and its last bits) changes between runs as the GC places
/// arrays differently; Lanczos then occasionally took another path (a missed eigenvalue in one of ten CI runs).
/// Here the blocking starts at element 0: four 256-bit accumulators, combined in a fixed order, then a scalar tail;
/// multiply and add stay separate operations (no contraction into FMA).
/// </summary>
internal static class Reductions
{
    /// <summary>Σ_i a[i] b[i].</summary>
    public static T Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != b.Length) throw new ArgumentException($"Dot needs spans of equal length, got {a.Length} and {b.Length}.", nameof(b));
        ref T pa = ref MemoryMarshal.GetReference(a);
        ref T pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0, w = Vector256<T>.Count;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= 4 * w)
        {
            Vector256<T> s0 = Vector256<T>.Zero, s1 = s0, s2 = s0, s3 = s0;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                s0 += Vector256.LoadUnsafe(ref pa, (nuint)i) * Vector256.LoadUnsafe(ref pb, (nuint)i);
                s1 += Vector256.LoadUnsafe(ref pa, (nuint)(i + w)) * Vector256.LoadUnsafe(ref pb, (nuint)(i + w));
                s2 += Vector256.LoadUnsafe(ref pa, (nuint)(i + 2 * w)) * Vector256.LoadUnsafe(ref pb, (nuint)(i + 2 * w));
                s3 += Vector256.LoadUnsafe(ref pa, (nuint)(i + 3 * w)) * Vector256.LoadUnsafe(ref pb, (nuint)(i + 3 * w));
            }
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }

    /// <summary>Σ_i x[i].</summary>
    public static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T px = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0, w = Vector256<T>.Count;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= 4 * w)
        {
            Vector256<T> s0 = Vector256<T>.Zero, s1 = s0, s2 = s0, s3 = s0;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                s0 += Vector256.LoadUnsafe(ref px, (nuint)i);
                s1 += Vector256.LoadUnsafe(ref px, (nuint)(i + w));
                s2 += Vector256.LoadUnsafe(ref px, (nuint)(i + 2 * w));
                s3 += Vector256.LoadUnsafe(ref px, (nuint)(i + 3 * w));
            }
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum += Unsafe.Add(ref px, i);
        return sum;
    }

    /// <summary>y[i] += alpha x[i], as a separate multiply and add for every element.</summary>
    public static void AddScaled<T>(ReadOnlySpan<T> x, T alpha, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length != y.Length) throw new ArgumentException($"AddScaled needs spans of equal length, got {x.Length} and {y.Length}.", nameof(y));
        ref T px = ref MemoryMarshal.GetReference(x);
        ref T py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0, w = Vector256<T>.Count;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var a = Vector256.Create(alpha);
            for (; i <= n - w; i += w)
                (Vector256.LoadUnsafe(ref py, (nuint)i) + a * Vector256.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref py, i) += alpha * Unsafe.Add(ref px, i);
    }
}
