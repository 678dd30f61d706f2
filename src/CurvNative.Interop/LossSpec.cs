using System.Numerics;
using CurvNative.NN.Losses;

namespace CurvNative.Interop;

/// <summary>
/// A loss by name and reduction, as model.json's <c>"loss"</c> entry and the CLI's <c>--loss</c>/<c>--reduction</c>
/// give it: cross_entropy (PyTorch's nn.CrossEntropyLoss: logits [N, C], class indices), mse (nn.MSELoss) or
/// bce_with_logits (nn.BCEWithLogitsLoss), each with reduction mean or sum.
/// </summary>
public sealed record LossSpec(string Type, Reduction Reduction)
{
    /// <summary>The loss names, in the order help texts list them.</summary>
    public static IReadOnlyList<string> Types { get; } = ["cross_entropy", "mse", "bce_with_logits"];

    /// <summary>The reduction names.</summary>
    public static IReadOnlyList<string> Reductions { get; } = ["mean", "sum"];

    /// <summary>True when targets are class indices (cross-entropy).</summary>
    public bool UsesClassIndices => Type == "cross_entropy";

    /// <summary>The reduction named <paramref name="text"/>, or null.</summary>
    public static Reduction? ParseReduction(string? text) => text switch
    {
        "mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        _ => null,
    };

    /// <summary>The loss module.</summary>
    public Loss<T> Build<T>() where T : unmanaged, IFloatingPointIeee754<T> => Type switch
    {
        "cross_entropy" => new CrossEntropyLoss<T>(Reduction),
        "mse" => new MSELoss<T>(Reduction),
        "bce_with_logits" => new BCEWithLogitsLoss<T>(Reduction),
        _ => throw new ArgumentException($"unknown loss '{Type}'; expected one of {string.Join(", ", Types)}."),
    };
}
