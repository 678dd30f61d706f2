using CurvNative.Interop;
using CurvNative.NN.Data;

namespace CurvNative.Cli.Demo;

/// <summary>
/// The demo's data set: scikit-learn's 1,797 handwritten digits, 8x8 pixels scaled to [0, 1]
/// (<c>data/digits.safetensors</c> beside the binary: x F32 [1797, 64], y I64 [1797]), split in file order into
/// the first 1,437 samples for training and the last 360 for testing.
/// </summary>
internal sealed class DigitsData
{
    public const int Samples = 1797;
    public const int TestSamples = 360;
    public const int TrainSamples = Samples - TestSamples;
    public const int Classes = 10;
    public const int Side = 8;

    private DigitsData(string path, DataSet<float> all)
    {
        Path = path;
        Train = all.Take(TrainSamples);
        Test = all.Range(TrainSamples, TestSamples);
    }

    /// <summary>Where the data was read from.</summary>
    public string Path { get; }

    /// <summary>Training samples, x [1437, 64].</summary>
    public DataSet<float> Train { get; }

    /// <summary>Test samples, x [360, 64].</summary>
    public DataSet<float> Test { get; }

    /// <summary>The default location: <c>data/digits.safetensors</c> under the application's directory.</summary>
    public static string DefaultPath => System.IO.Path.Combine(AppContext.BaseDirectory, "data", "digits.safetensors");

    /// <summary>Reads and checks the file (shape, dtype, class range, finiteness).</summary>
    public static DigitsData Load(string? path = null)
    {
        path ??= DefaultPath;
        if (!File.Exists(path)) throw CliException.BadInput($"{path}: the demo data set is missing (it is copied beside the binary at build time).");
        var spec = ModelSpec.Parse(
            """{"input_shape": [64], "layers": [{"type": "linear", "name": "0", "in_features": 64, "out_features": 10}], "loss": {"type": "cross_entropy"}}""",
            "digits spec");
        var data = ModelFiles<float>.LoadData(spec, path);
        if (data.Count != Samples)
            throw CliException.BadInput($"{path}, key 'x': expected {Samples} samples, found {data.Count}.");
        return new DigitsData(path, data);
    }

    /// <summary>The same samples with images shaped [N, 1, 8, 8] (views, no copy).</summary>
    public static DataSet<float> AsImages(DataSet<float> flat)
        => new(flat.X.Reshape(flat.Count, 1, Side, Side), flat.Y);
}
