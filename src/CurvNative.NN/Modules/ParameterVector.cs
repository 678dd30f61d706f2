using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.NN.Modules;

/// <summary>Flat parameter vectors in the order of torch.nn.utils.parameters_to_vector:
/// parameters in module order, weight before bias, each row-major.</summary>
public static class ParameterVector
{
    public static int Count<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
        => parameters.Sum(p => p.Length);

    /// <summary>Concatenates tensors (e.g. gradients) shaped like the parameters.</summary>
    public static Tensor<T> Flatten<T>(IEnumerable<Tensor<T>> blocks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var list = blocks.ToList();
        var flat = Tensor<T>.Zeros(list.Sum(b => b.Length));
        int offset = 0;
        foreach (var b in list) { b.Span.CopyTo(flat.Span.Slice(offset)); offset += b.Length; }
        return flat;
    }

    public static Tensor<T> Flatten<T>(IEnumerable<Var<T>> blocks) where T : unmanaged, IFloatingPointIeee754<T>
        => Flatten(blocks.Select(b => b.Value));

    /// <summary>The current parameter values as one vector.</summary>
    public static Tensor<T> Get<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
        => Flatten(parameters.Select(p => p.Value));

    /// <summary>Splits a flat vector into tensors shaped like the parameters (copies).</summary>
    public static Tensor<T>[] Split<T>(Tensor<T> flat, IReadOnlyList<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int total = Count(parameters);
        if (flat.Length != total)
            throw new ArgumentException($"Expected a flat vector of {total} elements (the parameters) but got shape {Shape.Format(flat.Shape)}.");
        var result = new Tensor<T>[parameters.Count];
        int offset = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            result[i] = Tensor<T>.FromSpan(flat.Span.Slice(offset, parameters[i].Length), parameters[i].Value.ShapeArray);
            offset += parameters[i].Length;
        }
        return result;
    }

    /// <summary>Writes a flat vector into the parameters in place.</summary>
    public static void Set<T>(IReadOnlyList<Parameter<T>> parameters, Tensor<T> flat) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocks = Split(flat, parameters);
        for (int i = 0; i < blocks.Length; i++) blocks[i].Span.CopyTo(parameters[i].Value.Span);
    }
}
