using System.Buffers.Binary;
using System.Numerics;
using CurvNative.Interop.Onnx.Proto;
using CurvNative.Tensors;
using DataType = CurvNative.Interop.Onnx.Proto.TensorProto.Types.DataType;

namespace CurvNative.Interop.Onnx;

/// <summary>Decodes ONNX TensorProtos (initializers, Constant values): shape and element count checked before
/// anything is allocated, data from raw_data (little-endian) or the typed repeated fields.</summary>
internal static class OnnxTensors
{
    /// <summary>The tensor's dims, each within [0, int.MaxValue] and with an element count that fits an array.</summary>
    public static int[] Shape(TensorProto t, string path, string what)
    {
        var dims = new int[t.Dims.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            long d = t.Dims[i];
            if (d < 0 || d > int.MaxValue)
                throw new CurvNativeFormatException(path, what, $"dimension {i} of the tensor is {d}; expected a size in [0, {int.MaxValue}].");
            dims[i] = (int)d;
        }
        if (!ShapeCheck.TryCount(dims, out _))
            throw new CurvNativeFormatException(path, what, $"the tensor shape {Text.Shape(t.Dims.ToArray())} has more than {int.MaxValue} elements.");
        return dims;
    }

    /// <summary>A float32 or float64 tensor converted to <typeparamref name="T"/>, checked finite.</summary>
    public static Tensor<T> Floats<T>(TensorProto t, string path, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = Shape(t, path, what);
        int count = Tensors.Shape.Size(shape);
        bool single = (DataType)t.DataType switch
        {
            DataType.Float => true,
            DataType.Double => false,
            _ => throw new CurvNativeFormatException(path, what, $"element type {TypeName(t.DataType)}; expected FLOAT or DOUBLE for a weight."),
        };
        var raw = single ? CheckedData(t, count, sizeof(float), t.FloatData.Count, "float_data", path, what)
            : CheckedData(t, count, sizeof(double), t.DoubleData.Count, "double_data", path, what);
        var result = Tensor<T>.Zeros(shape);
        var dst = result.Span;
        if (!raw.IsEmpty && single)
            for (int i = 0; i < count; i++) dst[i] = T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]));
        else if (!raw.IsEmpty)
            for (int i = 0; i < count; i++) dst[i] = T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]));
        else if (single)
            for (int i = 0; i < count; i++) dst[i] = T.CreateTruncating(t.FloatData[i]);
        else
            for (int i = 0; i < count; i++) dst[i] = T.CreateTruncating(t.DoubleData[i]);
        TensorChecks.EnsureFinite(result, path, what);
        return result;
    }

    /// <summary>An INT64 (or INT32) tensor's elements, e.g. a Reshape target or Pad amounts.</summary>
    public static long[] Int64s(TensorProto t, string path, string what)
    {
        int count = Tensors.Shape.Size(Shape(t, path, what));
        bool wide = (DataType)t.DataType switch
        {
            DataType.Int64 => true,
            DataType.Int32 => false,
            _ => throw new CurvNativeFormatException(path, what, $"element type {TypeName(t.DataType)}; expected INT64 or INT32."),
        };
        var raw = wide ? CheckedData(t, count, sizeof(long), t.Int64Data.Count, "int64_data", path, what)
            : CheckedData(t, count, sizeof(int), t.Int32Data.Count, "int32_data", path, what);
        var result = new long[count];
        for (int i = 0; i < count; i++)
            result[i] = !raw.IsEmpty ? (wide ? BinaryPrimitives.ReadInt64LittleEndian(raw[(8 * i)..]) : BinaryPrimitives.ReadInt32LittleEndian(raw[(4 * i)..]))
                : wide ? t.Int64Data[i] : t.Int32Data[i];
        return result;
    }

    /// <summary>Scalar value of a one-element float tensor (a constant of the GELU pattern).</summary>
    public static double Scalar(TensorProto t, string path, string what)
    {
        var shape = Shape(t, path, what);
        if (Tensors.Shape.Size(shape) != 1)
            throw new CurvNativeFormatException(path, what, $"expected a scalar constant, found shape {Tensors.Shape.Format(shape)}.");
        return Floats<double>(t, path, what).Span[0];
    }

    /// <summary>The ONNX name of an element type code.</summary>
    public static string TypeName(int code) => Enum.IsDefined((DataType)code) ? ((DataType)code).ToString().ToUpperInvariant() : $"code {code}";

    /// <summary>Checks the stored data against the element count before anything is allocated: inside the file, whole,
    /// and either raw_data of count * size bytes (returned) or a typed field of count elements (empty span returned).</summary>
    private static ReadOnlySpan<byte> CheckedData(TensorProto t, int count, int size, int typedCount, string typedField, string path, string what)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
            throw new CurvNativeFormatException(path, what, "the tensor's data is stored in an external file; export the model with the weights inside the .onnx file.");
        if (t.Segment is not null)
            throw new CurvNativeFormatException(path, what, "the tensor is segmented; expected a whole tensor.");
        if (!t.RawData.IsEmpty) return Raw(t, count, size, path, what);
        Expect(typedCount, count, typedField, path, what);
        return default;
    }

    private static ReadOnlySpan<byte> Raw(TensorProto t, int count, int size, string path, string what)
    {
        long expected = (long)count * size;
        if (t.RawData.Length != expected)
            throw new CurvNativeFormatException(path, what,
                $"raw_data holds {t.RawData.Length} bytes; expected {expected} ({count} elements of {size} bytes for shape {Text.Shape(t.Dims.ToArray())}).");
        return t.RawData.Span;
    }

    private static void Expect(int found, int count, string field, string path, string what)
    {
        if (found != count)
            throw new CurvNativeFormatException(path, what, $"{field} holds {found} elements; expected {count} for shape dims.");
    }
}
