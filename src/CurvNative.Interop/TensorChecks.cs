using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>Checks on loaded tensors that turn bad values into <see cref="CurvNativeFormatException"/>s.</summary>
public static class TensorChecks
{
    /// <summary>
    /// Throws unless every element is finite. Weights containing NaN or an infinity must be rejected at load
    /// time: they poison every curvature quantity computed from them.
    /// </summary>
    /// <param name="tensor">The tensor to check.</param>
    /// <param name="file">The file it came from (named in the message).</param>
    /// <param name="key">The tensor's name in that file, or null when the file holds a single array (.npy).</param>
    /// <exception cref="CurvNativeFormatException">An element is NaN or infinite; the message gives the file, the key,
    /// the first bad element's index (multi-index and flat index), its value, and how many elements are bad.</exception>
    public static void EnsureFinite<T>(Tensor<T> tensor, string file, string? key) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(file);
        var span = tensor.Span;
        int first = -1;
        for (int i = 0; i < span.Length; i++)
        {
            if (!T.IsFinite(span[i])) { first = i; break; }
        }
        if (first < 0) return;

        int bad = 0;
        for (int i = first; i < span.Length; i++)
            if (!T.IsFinite(span[i])) bad++;

        var shape = tensor.Shape;
        var index = new int[shape.Length];
        int rest = first;
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            index[a] = rest % shape[a];
            rest /= shape[a];
        }
        T v = span[first];
        string what = T.IsNaN(v) ? "NaN" : T.IsPositiveInfinity(v) ? "+Infinity" : "-Infinity";
        throw new CurvNativeFormatException(file, key,
            $"element {Shape.Format(index)} (flat index {first}) of the {typeof(T).Name} tensor of shape {Shape.Format(shape)} is {what}; " +
            $"expected finite values ({bad} of {span.Length} elements are not finite).");
    }
}
