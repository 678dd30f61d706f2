using System.Numerics;
using CurvNative.Interop.Onnx.Proto;
using CurvNative.NN.Modules;
using Google.Protobuf;

namespace CurvNative.Interop.Onnx;

/// <summary>
/// A model read from an ONNX file, as <c>torch.onnx.export</c> (opsets 13-17) writes it for an nn.Sequential of
/// the supported layers or residual blocks x + body(x) (with an optional shortcut module): Gemm, MatMul (+ Add of
/// its bias), Conv, Relu, Tanh, Sigmoid, GELU (the exact Erf pattern, or Gelu), Sin, Cos, Exp, Softplus, Flatten,
/// Reshape (flattening to [N, -1], with a constant target or one computed by Shape, Gather, Unsqueeze and Concat), MaxPool, AveragePool (after PyTorch's zero Pad), GlobalAveragePool, Identity,
/// and Add joining the two paths of a residual block. The weights come from the graph's initializers.
/// </summary>
/// <remarks>
/// <para>The first axis of the graph's input is the batch axis, named (dynamic) or fixed; every supported op acts
/// on each sample alone, so a model exported with a fixed batch size also evaluates other batch sizes. Parameter
/// names are the initializers' names (PyTorch's <c>0.weight</c>, <c>0.bias</c>, ...); a weight the exporter
/// renamed (a transposed <c>onnx::MatMul_N</c> of a Linear layer without bias) is named after its node's module
/// scope. Parameters are ordered as the graph runs, body before shortcut in a residual block, which for
/// nn.Sequential exports is the order of <c>model.parameters()</c>.</para>
/// <para>Reading checks the whole file before any tensor is allocated: a regular file of at most
/// <see cref="MaxFileBytes"/>, valid protobuf, known element types, dims within int range whose element count
/// matches the stored data. Anything the importer does not support is a <see cref="CurvNativeFormatException"/>
/// naming the node and its op type.</para>
/// </remarks>
public sealed class OnnxModel
{
    /// <summary>The largest file accepted: 1 GiB (protobuf itself stops at 2 GiB; larger ONNX models keep their
    /// weights in external files, which this reader does not follow).</summary>
    public const long MaxFileBytes = 1L << 30;

    private readonly ModelProto _proto;

    private OnnxModel(string path, ModelProto proto, OnnxGraphImporter<double>.Result checkedImport)
    {
        Path = path;
        _proto = proto;
        InputShape = checkedImport.InputShape;
        OutputShape = checkedImport.OutputShape;
        FixedBatchSize = checkedImport.FixedBatchSize;
        OpsetVersion = checkedImport.OpsetVersion;
    }

    /// <summary>The file the model was read from (named in errors).</summary>
    public string Path { get; }

    /// <summary>Per-sample input shape: the graph input's shape without the batch axis.</summary>
    public int[] InputShape { get; }

    /// <summary>Per-sample output shape.</summary>
    public int[] OutputShape { get; }

    /// <summary>The batch size fixed in the graph's input, or null when the batch axis is dynamic.</summary>
    public int? FixedBatchSize { get; }

    /// <summary>The default-domain opset the model was exported with.</summary>
    public long OpsetVersion { get; }

    /// <summary>Reads, parses and imports an ONNX file (the import is checked once here).</summary>
    /// <exception cref="CurvNativeFormatException">Not a regular file, too large, not ONNX, or a graph the importer
    /// does not support.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static OnnxModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new CurvNativeFormatException(path, null, "is a directory; expected an ONNX model file.");
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found.", path);
        if (info.Attributes.HasFlag(FileAttributes.Device))
            throw new CurvNativeFormatException(path, null, "not a regular file; expected an ONNX model file.");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        // A FIFO or character device reports no length to check against the limit: only regular files.
        if (!fs.CanSeek) throw new CurvNativeFormatException(path, null, "not a regular file (cannot seek); expected an ONNX model file.");
        long length = fs.Length;
        if (length > MaxFileBytes)
            throw new CurvNativeFormatException(path, null, $"the file is {length} bytes; expected at most {MaxFileBytes} bytes (1 GiB) for an ONNX model.");
        var bytes = new byte[length];
        fs.ReadExactly(bytes);
        return Parse(bytes, path);
    }

    /// <summary>Parses and imports ONNX bytes; <paramref name="path"/> only names the source in errors.</summary>
    /// <exception cref="CurvNativeFormatException">Not ONNX, or a graph the importer does not support.</exception>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes, string path = "model.onnx")
    {
        if (bytes.Length == 0) throw new CurvNativeFormatException(path, null, "the file is empty; expected an ONNX model (a protobuf ModelProto).");
        if (bytes.Length > MaxFileBytes)
            throw new CurvNativeFormatException(path, null, $"the model is {bytes.Length} bytes; expected at most {MaxFileBytes} bytes (1 GiB).");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new CurvNativeFormatException(path, null, $"not a valid ONNX file: the protobuf does not parse ({e.Message}).", e);
        }
        if (proto.Graph is null || proto.Graph.Node.Count == 0)
            throw new CurvNativeFormatException(path, null, "the ONNX model has no graph (or an empty one); is this an ONNX file?");
        return new OnnxModel(path, proto, new OnnxGraphImporter<double>(proto, path).Import());
    }

    /// <summary>The model as modules with the weights of the initializers, in <typeparamref name="T"/> precision
    /// (float32 initializers convert to double exactly).</summary>
    public Sequential<T> BuildModel<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => new OnnxGraphImporter<T>(_proto, Path).Import().Model;
}
