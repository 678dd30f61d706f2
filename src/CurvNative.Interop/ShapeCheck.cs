namespace CurvNative.Interop;

/// <summary>Element counts of shapes read from files, with the same limits as <see cref="Tensors.Shape.Size"/>.</summary>
internal static class ShapeCheck
{
    /// <summary>
    /// The product of non-negative dimensions, or false when a running product exceeds <see cref="int.MaxValue"/>.
    /// Checked the way <see cref="Tensors.Shape.Size"/> checks, so a shape accepted here always makes a tensor
    /// (it also rejects, say, [2147483647, 2147483647, 0], whose running product overflows before the zero).
    /// </summary>
    public static bool TryCount(ReadOnlySpan<int> shape, out long count)
    {
        count = 1;
        foreach (int d in shape)
        {
            count *= d; // both factors are at most int.MaxValue: no long overflow
            if (count > int.MaxValue) { count = 0; return false; }
        }
        return true;
    }
}
