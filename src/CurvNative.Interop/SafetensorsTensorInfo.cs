using System.Collections.ObjectModel;

namespace CurvNative.Interop;

/// <summary>What a safetensors header says about one tensor: its name, dtype, shape and byte range.</summary>
public sealed class SafetensorsTensorInfo
{
    private readonly int[] _shape;

    internal SafetensorsTensorInfo(string name, string dtype, int[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        Shape = new ReadOnlyCollection<int>(shape);
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's key in the header.</summary>
    public string Name { get; }

    /// <summary>The safetensors dtype string as written in the file, for example <c>"F32"</c>, <c>"F64"</c>, <c>"I64"</c> or <c>"BF16"</c>.</summary>
    public string DType { get; }

    /// <summary>The shape, outermost axis first; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>A copy of the shape as an array.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();

    /// <summary>Number of elements (the product of the shape; 1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>Start of the tensor's bytes, relative to the start of the data section.</summary>
    public long DataBegin { get; }

    /// <summary>End (exclusive) of the tensor's bytes, relative to the start of the data section.</summary>
    public long DataEnd { get; }

    /// <summary>
    /// True for the dtypes this library loads: <c>F32</c> and <c>F64</c> (through
    /// <see cref="SafetensorsFile.GetTensor{T}"/>) and <c>I64</c> (through <see cref="SafetensorsFile.GetInt64"/>).
    /// </summary>
    public bool IsSupported => DType is SafetensorsFile.F32 or SafetensorsFile.F64 or SafetensorsFile.I64;

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {DType}{Tensors.Shape.Format(_shape)} @ [{DataBegin}, {DataEnd})";
}
