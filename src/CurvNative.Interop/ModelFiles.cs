using System.Numerics;
using CurvNative.Interop.Onnx;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>
/// A model handed over as files: the model, either a spec (model.json) with weights (safetensors with keys
/// <c>&lt;name&gt;.weight</c>/<c>&lt;name&gt;.bias</c> in PyTorch layouts) or an ONNX file (<c>.onnx</c>) that holds
/// its weights, and the data (safetensors with <c>x</c> of shape [N, *input_shape] and <c>y</c>: I64 class indices
/// for cross-entropy, else values of the output's shape).
/// </summary>
public sealed class ModelFiles<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private ModelFiles(string modelPath, int[] inputShape, int[] outputShape, LossSpec lossSpec, Sequential<T> model, DataSet<T> data)
    {
        ModelPath = modelPath; InputShape = inputShape; OutputShape = outputShape; LossSpec = lossSpec;
        Model = model; Loss = lossSpec.Build<T>(); Data = data;
        Parameters = model.Parameters().ToList();
    }

    /// <summary>The model file (model.json or .onnx).</summary>
    public string ModelPath { get; }

    /// <summary>Per-sample input shape.</summary>
    public int[] InputShape { get; }

    /// <summary>Per-sample output shape.</summary>
    public int[] OutputShape { get; }

    /// <summary>The loss: model.json's, or the one given to <see cref="Load"/>.</summary>
    public LossSpec LossSpec { get; }

    public Sequential<T> Model { get; }
    public Loss<T> Loss { get; }
    public DataSet<T> Data { get; }

    /// <summary>Parameters in the flat order of torch.nn.utils.parameters_to_vector.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>True when <paramref name="modelPath"/> names an ONNX model (by its extension, .onnx).</summary>
    public static bool IsOnnx(string modelPath) => modelPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>Loads and cross-checks the files; any mismatch names the file and key. With a spec, the weights file
    /// is checked against the parameter shapes the spec implies before the model is allocated, so a spec with huge
    /// layers costs nothing beyond the weights file it must match.</summary>
    /// <param name="modelPath">model.json, or an ONNX file (.onnx) whose initializers are the weights.</param>
    /// <param name="weightsPath">The weights; required with model.json; with ONNX, when given, they replace the initializers.</param>
    /// <param name="dataPath">The data set.</param>
    /// <param name="loss">The loss; required with ONNX (which has none); with model.json it overrides the spec's.</param>
    public static ModelFiles<T> Load(string modelPath, string? weightsPath, string dataPath, LossSpec? loss = null)
    {
        int[] inputShape, outputShape;
        Sequential<T> model;
        if (IsOnnx(modelPath))
        {
            if (loss is null) throw new ArgumentException($"{modelPath}: an ONNX model carries no loss; give one (cross_entropy, mse or bce_with_logits).", nameof(loss));
            var onnx = OnnxModel.Load(modelPath);
            (inputShape, outputShape, model) = (onnx.InputShape, onnx.OutputShape, onnx.BuildModel<T>());
            if (weightsPath is not null) LoadWeights(model, weightsPath);
        }
        else
        {
            if (weightsPath is null) throw new ArgumentException($"{modelPath}: a model spec needs a weights file.", nameof(weightsPath));
            var spec = ModelSpec.Load(modelPath);
            loss ??= spec.Loss ?? throw new CurvNativeFormatException(modelPath, null, "the top level is missing 'loss'; this command needs a loss (or give --loss).");
            var weights = SafetensorsFile.Read(weightsPath);
            CheckWeights(spec.ParameterShapes, weights, weightsPath);
            (inputShape, outputShape, model) = (spec.InputShape, spec.OutputShape, spec.BuildModel<T>());
            CopyWeights(model, weights, weightsPath);
        }
        if (loss.UsesClassIndices && outputShape.Length != 1)
            throw new CurvNativeFormatException(modelPath, null, $"cross_entropy needs logits [N, C] but the model produces per-sample shape {Shape.Format(outputShape)}.");
        var data = LoadData(inputShape, outputShape, loss.UsesClassIndices, modelPath, dataPath);
        return new ModelFiles<T>(modelPath, inputShape, outputShape, loss, model, data);
    }

    /// <summary>Copies weights into the model's parameters. Every parameter must be present with its
    /// exact shape and finite values; keys the model does not have are an error too (a wrong spec).</summary>
    public static void LoadWeights(Module<T> model, string path)
    {
        var file = SafetensorsFile.Read(path);
        CheckWeights(model.Parameters().Select(p => (p.Name, p.Shape.ToArray())).ToList(), file, path);
        CopyWeights(model, file, path);
    }

    /// <summary>Checks names, shapes and dtypes of a weights file against the expected parameters (header only).</summary>
    private static void CheckWeights(IReadOnlyList<(string Name, int[] Shape)> parameters, SafetensorsFile file, string path)
    {
        var expected = parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in file.Names)
            if (!expected.Contains(name))
                throw new CurvNativeFormatException(path, name, $"the model has no parameter of this name; expected only {string.Join(", ", expected.Select(n => Text.Quote(n)))}.");
        foreach (var (name, shape) in parameters)
        {
            if (!file.Contains(name))
                throw new CurvNativeFormatException(path, name, $"missing: the model needs a tensor of shape {Shape.Format(shape)}.");
            var info = file.GetInfo(name);
            if (!info.ShapeArray.AsSpan().SequenceEqual(shape))
                throw new CurvNativeFormatException(path, name, $"expected shape {Shape.Format(shape)}, found {Shape.Format(info.ShapeArray)}.");
            if (info.DType is not (SafetensorsFile.F32 or SafetensorsFile.F64))
                throw new CurvNativeFormatException(path, name, $"expected dtype F32 or F64, found {info.DType}.");
        }
    }

    private static void CopyWeights(Module<T> model, SafetensorsFile file, string path)
    {
        foreach (var p in model.Parameters())
        {
            var t = file.GetTensor<T>(p.Name);
            TensorChecks.EnsureFinite(t, path, p.Name);
            t.Span.CopyTo(p.Value.Span);
        }
    }

    /// <summary>Writes the model's parameters as safetensors (atomic).</summary>
    public static void SaveWeights(Module<T> model, string path)
    {
        var tensors = new Dictionary<string, object>();
        foreach (var p in model.Parameters()) tensors[p.Name] = p.Value;
        SafetensorsFile.Write(path, tensors);
    }

    /// <summary>Reads x and y and checks them against the spec (input shape, class range, output shape).</summary>
    public static DataSet<T> LoadData(ModelSpec spec, string path)
        => LoadData(spec.InputShape, spec.OutputShape, spec.UsesClassIndices, spec.Path, path);

    /// <summary>Reads x and y and checks them against the model's per-sample input and output shapes (class
    /// indices in range for cross-entropy); <paramref name="modelPath"/> is named in errors.</summary>
    public static DataSet<T> LoadData(int[] inputShape, int[] outputShape, bool classIndices, string modelPath, string path)
    {
        var file = SafetensorsFile.Read(path);
        foreach (var key in new[] { "x", "y" })
            if (!file.Contains(key)) throw new CurvNativeFormatException(path, key, $"missing: the data file needs 'x' [N, {string.Join(", ", inputShape)}] and 'y'.");
        var x = file.GetTensor<T>("x");
        if (x.Rank != inputShape.Length + 1 || !x.Shape[1..].SequenceEqual(inputShape))
            throw new CurvNativeFormatException(path, "x", $"expected shape [N, {string.Join(", ", inputShape)}] (input_shape of {modelPath}), found {Shape.Format(x.Shape)}.");
        TensorChecks.EnsureFinite(x, path, "x");
        int n = x.Shape[0];
        var output = outputShape;
        Targets<T> y;
        var yInfo = file.GetInfo("y");
        if (classIndices)
        {
            if (yInfo.DType != SafetensorsFile.I64)
                throw new CurvNativeFormatException(path, "y", $"expected dtype I64 class indices for cross_entropy, found {yInfo.DType}.");
            var labels = file.GetInt64("y");
            if (labels.Rank != 1 || labels.Length != n)
                throw new CurvNativeFormatException(path, "y", $"expected shape [{n}] (one class index per sample of x), found {Shape.Format(labels.Shape)}.");
            int classes = output[^1];
            var classesInt = new int[n];
            for (int i = 0; i < n; i++)
            {
                long c = labels.Data[i];
                if (c < 0 || c >= classes)
                    throw new CurvNativeFormatException(path, "y", $"expected class indices in [0, {classes}), found {c} at index {i}.");
                classesInt[i] = (int)c;
            }
            y = Targets<T>.FromClasses(classesInt);
        }
        else
        {
            var values = file.GetTensor<T>("y");
            int[] expectedShape = [n, .. output];
            if (!values.Shape.SequenceEqual(expectedShape))
                throw new CurvNativeFormatException(path, "y", $"expected shape {Shape.Format(expectedShape)} (the model output), found {Shape.Format(values.Shape)}.");
            TensorChecks.EnsureFinite(values, path, "y");
            y = Targets<T>.FromValues(values);
        }
        return new DataSet<T>(x, y);
    }
}
