using System.Text.Json;
using CurvNative.Autodiff;
using CurvNative.Interop;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Autodiff.FiniteDifference;

namespace CurvNative.Tests.NN;

/// <summary>Layers, losses and whole-model gradients against values PyTorch computed (tools/make_fixtures.py).</summary>
public class PyTorchFixtureTests
{
    internal static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "fixtures", .. parts]);

    public static TheoryData<string> LayerCases() => new(Directory.GetFiles(Fixture("layers"), "*.safetensors").Select(Path.GetFileNameWithoutExtension).Order()!);

    private static Module<double> BuildLayer(string type, JsonElement c) => type switch
    {
        "linear" => new Linear<double>("layer", c.GetProperty("in_features").GetInt32(), c.GetProperty("out_features").GetInt32(), c.GetProperty("bias").GetBoolean()),
        "conv2d" => new Conv2d<double>("layer", c.GetProperty("in_channels").GetInt32(), c.GetProperty("out_channels").GetInt32(), c.GetProperty("kernel_size").GetInt32(),
            c.GetProperty("stride").GetInt32(), c.GetProperty("padding").GetInt32(), c.GetProperty("bias").GetBoolean()),
        "relu" => new ReLU<double>(),
        "tanh" => new Tanh<double>(),
        "sigmoid" => new Sigmoid<double>(),
        "gelu" => new GELU<double>(),
        "softplus" => new Softplus<double>(),
        "flatten" => new Flatten<double>(),
        "maxpool2d" => new MaxPool2d<double>(c.GetProperty("kernel_size").GetInt32(), c.GetProperty("stride").GetInt32()),
        "avgpool2d" => new AvgPool2d<double>(c.GetProperty("kernel_size").GetInt32(), c.GetProperty("stride").GetInt32()),
        "layernorm" => new LayerNorm<double>("layer", c.GetProperty("normalized_shape")[0].GetInt32(), c.GetProperty("eps").GetDouble()),
        "batchnorm2d" => new BatchNorm2d<double>("layer", c.GetProperty("num_features").GetInt32(), c.GetProperty("eps").GetDouble(), c.GetProperty("momentum").GetDouble()),
        "dropout" => new Dropout<double>(c.GetProperty("p").GetDouble()),
        _ => throw new InvalidOperationException($"fixture layer type {type}"),
    };

    [Theory]
    [MemberData(nameof(LayerCases))]
    public void LayerMatchesPyTorch(string name)
    {
        var file = SafetensorsFile.Read(Fixture("layers", name + ".safetensors"));
        var meta = file.Metadata;
        using var config = JsonDocument.Parse(meta["config"]);
        var layer = BuildLayer(meta["layer"], config.RootElement);
        layer.Training = meta["mode"] == "train";
        foreach (var p in layer.Parameters())
            file.GetTensor<double>("param." + p.Name["layer.".Length..]).Span.CopyTo(p.Value.Span);
        if (layer is BatchNorm2d<double> bn)
        {
            file.GetTensor<double>("buffer.running_mean").Span.CopyTo(bn.RunningMean.Span);
            file.GetTensor<double>("buffer.running_var").Span.CopyTo(bn.RunningVar.Span);
        }

        var x = Var<double>.Leaf(file.GetTensor<double>("input"));
        var y = layer.Forward(x);
        AssertClose(file.GetTensor<double>("output"), y.Value, 1e-12, $"{name} output");

        var parameters = layer.Parameters().ToList();
        var wrt = new List<Var<double>> { x };
        wrt.AddRange(parameters.Select(p => p.Var));
        var u = Var<double>.Constant(file.GetTensor<double>("grad_output"));
        var grads = Autograd.Grad(y, wrt, u, createGraph: file.Contains("v"));
        AssertClose(file.GetTensor<double>("grad.input"), grads[0].Value, 1e-12, $"{name} input gradient");
        for (int i = 0; i < parameters.Count; i++)
            AssertClose(file.GetTensor<double>("grad.param." + parameters[i].Name["layer.".Length..]), grads[i + 1].Value, 1e-12, $"{name} {parameters[i].Name} gradient");

        if (file.Contains("v"))
        {
            var v = Var<double>.Constant(file.GetTensor<double>("v"));
            var hvp = Autograd.Grad(F.Sum(F.Mul(grads[0], v)), [x])[0];
            AssertClose(file.GetTensor<double>("hvp.input"), hvp.Value, 1e-11, $"{name} second derivative");
        }
        if (file.Contains("buffer_after.running_mean") && layer is BatchNorm2d<double> b)
        {
            AssertClose(file.GetTensor<double>("buffer_after.running_mean"), b.RunningMean, 1e-12, "running_mean");
            AssertClose(file.GetTensor<double>("buffer_after.running_var"), b.RunningVar, 1e-12, "running_var");
        }
    }

    public static TheoryData<string> LossCases() => new(Directory.GetFiles(Fixture("losses"), "*.safetensors").Select(Path.GetFileNameWithoutExtension).Order()!);

    private static (Loss<double> Loss, Targets<double> Target) BuildLoss(string name, SafetensorsFile file)
    {
        var reduction = name.Contains("_sum") ? Reduction.Sum : Reduction.Mean;
        if (name.StartsWith("cross_entropy"))
            return (new CrossEntropyLoss<double>(reduction), Targets<double>.FromClasses(file.GetInt64("target").Data.Select(v => (int)v).ToArray()));
        var values = Targets<double>.FromValues(file.GetTensor<double>("target"));
        return name.StartsWith("mse") ? (new MSELoss<double>(reduction), values) : (new BCEWithLogitsLoss<double>(reduction), values);
    }

    [Theory]
    [MemberData(nameof(LossCases))]
    public void LossMatchesPyTorch(string name)
    {
        var file = SafetensorsFile.Read(Fixture("losses", name + ".safetensors"));
        var (loss, target) = BuildLoss(name, file);
        var f = Var<double>.Leaf(file.GetTensor<double>("input"));
        var l = loss.Forward(f, target);
        AssertClose(file.GetTensor<double>("loss").Reshape(), l.Value, 1e-12, $"{name} value");
        var g = Autograd.Grad(l, [f], createGraph: true)[0];
        AssertClose(file.GetTensor<double>("grad.input"), g.Value, 1e-12, $"{name} gradient");

        // The full Hessian by differentiating the gradient, and the closed form c * blockdiag(H_n).
        var expected = file.GetTensor<double>("hessian");
        int n = f.Shape[0], c = f.Shape[1], dim = n * c;
        var autodiff = Tensor<double>.Zeros(dim, dim);
        for (int j = 0; j < dim; j++)
        {
            var e = Tensor<double>.Zeros(n, c); e.Span[j] = 1;
            var col = Autograd.Grad(F.Sum(F.Mul(g, Var<double>.Constant(e))), [f])[0].Value;
            for (int i = 0; i < dim; i++) autodiff[i, j] = col.Span[i];
        }
        AssertClose(expected, autodiff, 1e-11, $"{name} Hessian by double backward");

        var closed = Tensor<double>.Zeros(dim, dim);
        var blocks = loss.SampleHessian(f.Value, target);
        var factors = loss.SampleHessianSqrt(f.Value, target);
        double scale = loss.ReductionFactor(n, c);
        for (int s = 0; s < n; s++)
            for (int a = 0; a < c; a++)
                for (int b = 0; b < c; b++)
                {
                    closed[s * c + a, s * c + b] = scale * blocks[s, a, b];
                    double rr = 0;
                    for (int k = 0; k < factors.Shape[2]; k++) rr += factors[s, a, k] * factors[s, b, k];
                    Assert.True(Math.Abs(rr - blocks[s, a, b]) <= 1e-12, $"{name}: R R^T differs from the Hessian block at sample {s} ({a}, {b})");
                }
        AssertClose(expected, closed, 1e-11, $"{name} closed-form Hessian");

        // Per-sample gradients times the reduction factor sum to the batch gradient.
        var perSample = loss.SampleGradients(f.Value, target);
        var summed = TensorOps.Affine(perSample, scale, 0).Reshape(n, c);
        AssertClose(file.GetTensor<double>("grad.input"), summed, 1e-12, $"{name} per-sample gradients");
    }

    public static TheoryData<string> ModelCases() => new(Directory.GetDirectories(Fixture("models")).Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void ModelGradientMatchesPyTorch(string name)
    {
        var files = ModelFiles<double>.Load(Fixture("models", name, "model.json"), Fixture("models", name, "weights.safetensors"), Fixture("models", name, "data.safetensors"));
        var expected = Npy.Read<double>(Fixture("models", name, "grad.npy"));
        using var lossJson = JsonDocument.Parse(File.ReadAllText(Fixture("models", name, "loss.json")));
        double expectedLoss = lossJson.RootElement.GetProperty("loss").GetDouble();

        var batch = files.Data.Batches().Single();
        var l = files.Loss.Forward(files.Model.Forward(Var<double>.Constant(batch.X)), batch.Y);
        var grad = ParameterVector.Flatten(Autograd.Grad(l, files.Parameters.Select(p => p.Var).ToList()));
        Assert.True(Math.Abs(l.Value.ToScalar() - expectedLoss) <= 1e-12 * Math.Abs(expectedLoss), $"loss {l.Value.ToScalar()} vs PyTorch {expectedLoss}");
        double diff = 0, norm = 0;
        for (int i = 0; i < grad.Length; i++) { diff += Math.Pow(grad.Span[i] - expected.Span[i], 2); norm += Math.Pow(expected.Span[i], 2); }
        Assert.True(Math.Sqrt(diff / norm) < 1e-10, $"{name}: relative gradient error {Math.Sqrt(diff / norm):E2} vs PyTorch");
    }
}
