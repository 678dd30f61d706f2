using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>Argument checks shared by the native bindings.</summary>
internal static class SpanChecks
{
    /// <summary>Throws "expected x of length N*Cin*H*W = 3072 but got 100".</summary>
    public static void Length(int actual, long expected, string name, string formula)
    {
        if (actual != expected)
            throw new ArgumentException($"expected {name} of length {formula} = {expected} but got {actual}.", name);
    }

    /// <summary>The output must share no memory with either input (empty spans never overlap).</summary>
    public static void NoOverlap<T>(ReadOnlySpan<T> output, string outputName, ReadOnlySpan<T> a, string aName,
        ReadOnlySpan<T> b, string bName)
    {
        if (output.Overlaps(a))
            throw new ArgumentException($"{outputName} must not overlap {aName}.", outputName);
        if (output.Overlaps(b))
            throw new ArgumentException($"{outputName} must not overlap {bName}.", outputName);
    }

    public static bool Overlap(ReadOnlySpan<byte> output, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        output.Overlaps(a) || output.Overlaps(b);
}
