using CurvNative.Interop;
using CurvNative.NN.Data;

namespace CurvNative.Cli.Demo;

/// <summary>A model of the demo: a spec (the same JSON format as <c>--model</c> files), the Adam learning rate
/// and the layout of its input (flat or image).</summary>
internal sealed record DemoModel(string Name, string Summary, ModelSpec Spec, double LearningRate, Func<DataSet<float>, DataSet<float>> Layout);

/// <summary>The models the demo trains on the digits.</summary>
internal static class DemoModels
{
    /// <summary>A 64-64-10 MLP with tanh.</summary>
    public static DemoModel Mlp { get; } = new(
        "MLP", "64-64-10, tanh",
        ModelSpec.Parse("""
            {"input_shape": [64],
             "layers": [{"type": "linear", "name": "0", "in_features": 64, "out_features": 64},
                        {"type": "tanh"},
                        {"type": "linear", "name": "2", "in_features": 64, "out_features": 10}],
             "loss": {"type": "cross_entropy", "reduction": "mean"}}
            """, "demo MLP"),
        LearningRate: 0.03,
        Layout: data => data);

    /// <summary>Two 3x3 convolutions with ReLU and max-pooling, then a linear classifier.</summary>
    public static DemoModel Cnn { get; } = new(
        "CNN", "conv3x3(8), relu, maxpool, conv3x3(16), relu, linear",
        ModelSpec.Parse("""
            {"input_shape": [1, 8, 8],
             "layers": [{"type": "conv2d", "name": "0", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
                        {"type": "relu"},
                        {"type": "maxpool2d", "kernel_size": 2},
                        {"type": "conv2d", "name": "3", "in_channels": 8, "out_channels": 16, "kernel_size": 3, "padding": 1},
                        {"type": "relu"},
                        {"type": "flatten"},
                        {"type": "linear", "name": "6", "in_features": 256, "out_features": 10}],
             "loss": {"type": "cross_entropy", "reduction": "mean"}}
            """, "demo CNN"),
        LearningRate: 0.01,
        Layout: DigitsData.AsImages);

    public static IReadOnlyList<DemoModel> All { get; } = [Mlp, Cnn];
}
