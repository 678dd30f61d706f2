using CurvNative.Autodiff;
using CurvNative.Tensors;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static CurvNative.Tests.Autodiff.FiniteDifference;

namespace CurvNative.Tests.Autodiff;

/// <summary>Every primitive's VJP, JVP and second derivative against finite differences at random points.</summary>
public class PrimitiveDerivativeTests
{
    private static Func<Random, Tensor<double>[]> Inputs(params int[][] shapes) => rng => shapes.Select(s => Random(rng, s)).ToArray();

    private static Func<Random, Tensor<double>[]> Positive(params int[][] shapes) => rng => shapes.Select(s => Random(rng, s, 0.5, 2)).ToArray();

    /// <summary>Inputs whose magnitudes stay away from zero (kinks of relu/abs at 0).</summary>
    private static Func<Random, Tensor<double>[]> AwayFromZero(params int[][] shapes) => rng => shapes.Select(s =>
    {
        var t = Random(rng, s, 0.2, 1.5);
        for (int i = 0; i < t.Length; i++) if (rng.Next(2) == 0) t.Span[i] = -t.Span[i];
        return t;
    }).ToArray();

    public static TheoryData<string> Cases() => new(Table.Keys);

    internal static readonly Dictionary<string, (FiniteDifference.Function F, Func<Random, Tensor<double>[]> X)> Table = new()
    {
        ["add"] = (a => a[0] + a[1], Inputs([3, 4], [3, 4])),
        ["add-broadcast-row"] = (a => a[0] + a[1], Inputs([3, 4], [4])),
        ["sub-broadcast-middle"] = (a => a[0] - a[1], Inputs([2, 3, 4], [1, 3, 1])),
        ["mul-broadcast"] = (a => a[0] * a[1], Inputs([2, 3], [2, 1])),
        ["mul-self"] = (a => a[0] * a[0], Inputs([5])),
        ["div"] = (a => a[0] / a[1], rng => [Random(rng, [3, 2]), Random(rng, [3, 2], 0.5, 2)]),
        ["div-scalar-denominator"] = (a => a[0] / a[1], rng => [Random(rng, [4]), Random(rng, [], 0.5, 2)]),
        ["scale-addscalar"] = (a => F.AddScalar(F.Scale(a[0], -2.5), 0.7), Inputs([6])),
        ["exp"] = (a => F.Exp(a[0]), Inputs([7])),
        ["log"] = (a => F.Log(a[0]), Positive([7])),
        ["tanh"] = (a => F.Tanh(a[0]), Inputs([3, 3])),
        // The gradient of tanh as a function of (g, x): exercises the fused TanhGrad primitive's own rules.
        ["tanh-gradient"] = (a => Autograd.Grad(F.Tanh(a[0]), [a[0]], a[1], createGraph: true)[0], Inputs([3, 4], [3, 4])),
        ["sigmoid"] = (a => F.Sigmoid(a[0]), Inputs([3, 3])),
        ["softplus"] = (a => F.Softplus(a[0]), rng => [Random(rng, [9], -30, 30)]),
        ["relu"] = (a => F.Relu(a[0]), AwayFromZero([10])),
        ["abs"] = (a => F.Abs(a[0]), AwayFromZero([10])),
        ["erf"] = (a => F.Erf(a[0]), rng => [Random(rng, [9], -3, 3)]),
        ["sqrt"] = (a => F.Sqrt(a[0]), Positive([5])),
        ["sin"] = (a => F.Sin(a[0]), rng => [Random(rng, [9], -7, 7)]),
        ["cos"] = (a => F.Cos(a[0]), rng => [Random(rng, [9], -7, 7)]),
        ["broadcast-to"] = (a => F.BroadcastTo(a[0], [2, 3, 4]), Inputs([3, 1])),
        ["sum-to"] = (a => F.SumTo(a[0], [3, 1]), Inputs([2, 3, 4])),
        ["sum-all"] = (a => F.Sum(a[0] * a[0]), Inputs([2, 3])),
        ["sum-axes"] = (a => F.Sum(a[0] * a[0], [0, 2]), Inputs([2, 3, 4])),
        ["mean-keepdims"] = (a => F.Mean(F.Exp(a[0]), [1], keepDims: true), Inputs([2, 3, 4])),
        ["reshape"] = (a => F.Reshape(F.Tanh(a[0]), 4, -1), Inputs([2, 6])),
        ["permute"] = (a => F.Permute(a[0] * a[0], 2, 0, 1), Inputs([2, 3, 4])),
        ["transpose"] = (a => F.Transpose(F.Sigmoid(a[0])), Inputs([3, 5])),
        ["transpose-tiled"] = (a => F.Transpose(a[0] * a[0]), Inputs([33, 40])),
        ["transpose-vector"] = (a => F.Transpose(F.Exp(a[0])), Inputs([1, 7])),
        ["permute-batched-transpose"] = (a => F.Permute(a[0] * a[0], 0, 2, 1), Inputs([2, 35, 33])),
        ["linear-primitive"] = (a => F.Linear(a[0], a[1], a[2]), Inputs([4, 3], [5, 3], [5])),
        ["linear-primitive-no-bias"] = (a => F.Tanh(F.Linear(a[0], a[1])), Inputs([4, 3], [5, 3])),
        ["matmul"] = (a => F.MatMul(a[0], a[1]), Inputs([3, 4], [4, 2])),
        ["matmul-ta"] = (a => F.MatMul(a[0], a[1], transA: true), Inputs([4, 3], [4, 2])),
        ["matmul-tb"] = (a => F.MatMul(a[0], a[1], transB: true), Inputs([3, 4], [2, 4])),
        ["matmul-tatb"] = (a => F.MatMul(a[0], a[1], true, true), Inputs([4, 3], [2, 4])),
        ["matmul-batched"] = (a => F.MatMul(a[0], a[1], false, true), Inputs([2, 3, 4], [2, 5, 4])),
        ["matmul-square"] = (a => F.MatMul(a[0], a[0]), Inputs([3, 3])),
        ["log-softmax"] = (a => F.LogSoftmax(a[0]), Inputs([3, 5])),
        ["softmax"] = (a => F.Softmax(a[0]), Inputs([2, 4])),
        ["logsumexp"] = (a => F.LogSumExp(a[0]), Inputs([3, 5])),
        ["gather"] = (a => F.GatherFlat(a[0] * a[0], [5, 0, 3, 3], [2, 2]), Inputs([2, 3])),
        ["scatter"] = (a => F.ScatterAddFlat(F.Exp(a[0]), [5, 0, 3, 3], [2, 3]), Inputs([4])),
        ["avgpool"] = (a => F.AvgPool2d(a[0] * a[0], 2, 1), Inputs([2, 2, 4, 5])),
        ["conv2d"] = (a => F.Conv2d(a[0], a[1], stride: 2, padding: 1), Inputs([2, 3, 6, 5], [4, 3, 3, 3])),
        ["conv2d-tanh"] = (a => F.Tanh(F.Conv2d(F.Tanh(a[0]), a[1], stride: 1, padding: 2)), Inputs([1, 2, 5, 4], [3, 2, 3, 3])),
        ["conv2d-k1-stride3"] = (a => F.Conv2d(a[0] * a[0], a[1], stride: 3), Inputs([2, 2, 7, 7], [2, 2, 1, 1])),
        ["maxpool"] = (a => F.MaxPool2d(a[0] * a[0], 2, 2), Inputs([2, 2, 4, 6])),
        ["maxpool-overlapping"] = (a => F.MaxPool2d(F.Exp(a[0]), 3, 2), Inputs([1, 2, 7, 7])),
        ["layernorm-composite"] = (a =>
        {
            var c = F.Sub(a[0], F.Mean(a[0], [-1], keepDims: true));
            return F.Div(c, F.Sqrt(F.AddScalar(F.Mean(F.Square(c), [-1], keepDims: true), 1e-5)));
        }, Inputs([3, 6])),
        ["mlp-composite"] = (a => F.Tanh(F.Add(F.MatMul(F.Tanh(F.MatMul(a[0], a[1], transB: true)), a[2], transB: true), a[3])),
            Inputs([4, 3], [5, 3], [2, 5], [2])),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void DerivativesMatchFiniteDifferences(string name)
    {
        var (f, x) = Table[name];
        var property = Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed => Check(f, x, seed));
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(5), property);
    }
}
