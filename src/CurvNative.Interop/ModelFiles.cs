using System.Numerics;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>
/// A model handed over as files: the spec (model.json), the weights (safetensors with keys
/// <c>&lt;name&gt;.weight</c>/<c>&lt;name&gt;.bias</c> in PyTorch layouts) and the data (safetensors with
/// <c>x</c> of shape [N, *input_shape] and <c>y</c>: I64 class indices for cross-entropy, else values
/// of the output's shape).
/// </summary>
public sealed class ModelFiles<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private ModelFiles(ModelSpec spec, Sequential<T> model, Loss<T> loss, DataSet<T> data)
    {
        Spec = spec; Model = model; Loss = loss; Data = data;
        Parameters = model.Parameters().ToList();
    }

    public ModelSpec Spec { get; }
    public Sequential<T> Model { get; }
    public Loss<T> Loss { get; }
    public DataSet<T> Data { get; }

    /// <summary>Parameters in the flat order of torch.nn.utils.parameters_to_vector.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>Loads and cross-checks the three files; any mismatch names the file and key. The weights file is
    /// checked against the parameter shapes the spec implies before the model is allocated, so a spec with huge
    /// layers costs nothing beyond the weights file it must match.</summary>
    public static ModelFiles<T> Load(string modelPath, string weightsPath, string dataPath)
    {
        var spec = ModelSpec.Load(modelPath);
        var weights = SafetensorsFile.Read(weightsPath);
        CheckWeights(spec.ParameterShapes, weights, weightsPath);
        var model = spec.BuildModel<T>();
        CopyWeights(model, weights, weightsPath);
        var data = LoadData(spec, dataPath);
        return new ModelFiles<T>(spec, model, spec.BuildLoss<T>(), data);
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
    {
        var file = SafetensorsFile.Read(path);
        foreach (var key in new[] { "x", "y" })
            if (!file.Contains(key)) throw new CurvNativeFormatException(path, key, $"missing: the data file needs 'x' [N, {string.Join(", ", spec.InputShape)}] and 'y'.");
        var x = file.GetTensor<T>("x");
        if (x.Rank != spec.InputShape.Length + 1 || !x.Shape[1..].SequenceEqual(spec.InputShape))
            throw new CurvNativeFormatException(path, "x", $"expected shape [N, {string.Join(", ", spec.InputShape)}] (input_shape of {spec.Path}), found {Shape.Format(x.Shape)}.");
        TensorChecks.EnsureFinite(x, path, "x");
        int n = x.Shape[0];
        var output = spec.OutputShape;
        Targets<T> y;
        var yInfo = file.GetInfo("y");
        if (spec.UsesClassIndices)
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
