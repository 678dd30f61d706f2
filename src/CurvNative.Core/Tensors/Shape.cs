namespace CurvNative.Tensors;

/// <summary>Shape arithmetic and the messages that name both shapes when they disagree.</summary>
public static class Shape
{
    /// <summary>Number of elements of a shape (1 for a scalar, shape []).</summary>
    public static int Size(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Shape {Format(shape)} has a negative dimension.");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"Shape {Format(shape)} has more than {int.MaxValue} elements.");
        }
        return (int)n;
    }

    /// <summary>Formats a shape as PyTorch prints it: [2, 3].</summary>
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    public static bool SameAs(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>Throws unless two shapes are equal; the message names both.</summary>
    public static void CheckEqual(ReadOnlySpan<int> expected, ReadOnlySpan<int> actual, string what)
    {
        if (!expected.SequenceEqual(actual))
            throw new ArgumentException($"{what}: expected shape {Format(expected)} but got {Format(actual)}.");
    }

    /// <summary>NumPy broadcasting of two shapes.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"Shapes {Format(a)} and {Format(b)} cannot be broadcast together.");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    /// <summary>Row-major strides of a shape, in elements.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Normalises a possibly negative axis against a rank.</summary>
    public static int Axis(int axis, int rank)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentOutOfRangeException(nameof(axis), $"Axis {axis} is out of range for rank {rank}.");
        return a;
    }

    /// <summary>Resolves one -1 entry of a reshape target against a total size.</summary>
    public static int[] Resolve(ReadOnlySpan<int> target, int size, ReadOnlySpan<int> from)
    {
        var shape = target.ToArray();
        int infer = -1; long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"Reshape target {Format(target)} has more than one -1.");
                infer = i;
            }
            else if (shape[i] < 0) throw new ArgumentException($"Reshape target {Format(target)} has a negative dimension.");
            else known *= shape[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || size % known != 0)
                throw new ArgumentException($"Cannot reshape {Format(from)} ({size} elements) to {Format(target)}.");
            shape[infer] = (int)(size / known);
        }
        if (Size(shape) != size)
            throw new ArgumentException($"Cannot reshape {Format(from)} ({size} elements) to {Format(target)}.");
        return shape;
    }
}
